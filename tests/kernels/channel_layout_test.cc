// Copyright actlab authors.

#include "kernels/channel_layout.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace actlab {
namespace {

TEST(ChannelLayoutTest, NchwAxisOne) {
  std::vector<int64_t> shape = {2, 3, 4, 5};
  auto layout = MakeChannelLayout(shape, 1);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->outer, 2);
  EXPECT_EQ(layout->channels, 3);
  EXPECT_EQ(layout->inner, 20);
}

TEST(ChannelLayoutTest, NegativeAxisCountsFromTheEnd) {
  std::vector<int64_t> shape = {2, 4, 5, 3};
  auto layout = MakeChannelLayout(shape, -1);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->outer, 40);
  EXPECT_EQ(layout->channels, 3);
  EXPECT_EQ(layout->inner, 1);
}

TEST(ChannelLayoutTest, OutOfRangeAxisIsInvalidArgument) {
  std::vector<int64_t> shape = {2, 3};
  for (int axis : {2, -3, 7}) {
    auto layout = MakeChannelLayout(shape, axis);
    ASSERT_FALSE(layout.ok());
    EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(layout.status().message().find("channel_axis"),
              absl::string_view::npos);
  }
}

TEST(ChannelLayoutTest, ScalarHasOneChannel) {
  auto layout = MakeChannelLayout({}, 0);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->size(), 1);
}

TEST(ChannelLayoutTest, DefaultAxisFollowsPyTorch) {
  EXPECT_EQ(DefaultChannelAxis(1), 0);
  EXPECT_EQ(DefaultChannelAxis(2), 1);
  EXPECT_EQ(DefaultChannelAxis(4), 1);
}

}  // namespace
}  // namespace actlab
