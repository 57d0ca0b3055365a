// Copyright actlab authors.
//
// The --auth_tokens file: what parses, what is refused with which line,
// and how the Authenticator reads a call's authorization metadata and
// reloads the file.

#include "server/auth/token_table.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth/authenticator.h"

namespace actlab {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAlice[] = "alice-token-0123456789";
constexpr char kBob[] = "bob-token-0123456789ab";
constexpr char kRoot[] = "root-token-0123456789a";

TEST(TokenTableTest, ParsesPrincipalsAdminsCommentsAndBlankLines) {
  const std::string file =
      absl::StrCat("# actlab tokens\n\n", kAlice, " alice\n", "  \t", kBob,
                   "\tbob  \r\n", kRoot, " root admin\n",
                   "second-alice-token-xyz alice\n", "   # indented comment\n");
  absl::StatusOr<TokenTable> table = TokenTable::Parse(file, "t.txt");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 4u);
  ASSERT_TRUE(table->Find(kAlice).has_value());
  EXPECT_EQ(table->Find(kAlice)->name, "alice");
  EXPECT_FALSE(table->Find(kAlice)->admin);
  EXPECT_EQ(table->Find("second-alice-token-xyz")->name, "alice");
  EXPECT_EQ(table->Find(kBob)->name, "bob");
  EXPECT_TRUE(table->Find(kRoot)->admin);
  EXPECT_FALSE(table->Find("unknown-token-0123456789").has_value());
  EXPECT_FALSE(table->Find("").has_value());
}

TEST(TokenTableTest, RefusesBadFilesNamingTheLineWithoutTheToken) {
  const std::string ok = absl::StrCat(kAlice, " alice\n");
  struct Case {
    std::string contents;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {ok + kBob + "\n",
       "t.txt:2: expected 'TOKEN PRINCIPAL [admin]', "
       "found 1 fields"},
      {ok + kBob + " bob admin extra\n", "t.txt:2: expected"},
      {ok + "short bob\n", "t.txt:2: the token has 5 characters"},
      {ok + std::string(513, 'x') + " bob\n", "t.txt:2: the token has 513"},
      {ok + kBob + " b/ob\n", "t.txt:2: principal 'b/ob' has a character"},
      {ok + kBob + " " + std::string(129, 'b') + "\n",
       "t.txt:2: the principal has 129 characters"},
      {ok + kBob + " bob root\n", "t.txt:2: the third field must be 'admin'"},
      {"\n# c\n" + ok + kAlice + " bob\n",
       "t.txt:4: this token already appears on line 3"},
      {ok + kBob + " alice admin\n",
       "t.txt:2: principal 'alice' is admin here but not admin on line 1"},
      {"", "t.txt: no tokens"},
      {"# only a comment\n\n  \n", "t.txt: no tokens"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TokenTable> table = TokenTable::Parse(c.contents, "t.txt");
    ASSERT_FALSE(table.ok()) << c.contents;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(table.status().message(),
                AllOf(HasSubstr(c.expected), Not(HasSubstr(kAlice)),
                      Not(HasSubstr(kBob))))
        << c.contents;
  }
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("authenticator_test_", getpid());
    fs::create_directories(dir_);
    path_ = (dir_ / "tokens").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& contents) {
    std::ofstream(path_, std::ios::trunc) << contents;
  }

  static absl::StatusOr<Principal> Call(const Authenticator& auth,
                                        std::vector<absl::string_view> values) {
    return auth.Authenticate(values);
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(AuthenticatorTest, OffLetsEveryCallInAsAnonymous) {
  Authenticator off;
  EXPECT_FALSE(off.enabled());
  for (auto values : {std::vector<absl::string_view>{},
                      std::vector<absl::string_view>{"Bearer nonsense"}}) {
    absl::StatusOr<Principal> caller = Call(off, values);
    ASSERT_TRUE(caller.ok()) << caller.status();
    EXPECT_EQ(caller->name, "");
    EXPECT_TRUE(caller->admin);
  }
  EXPECT_EQ(off.Reload().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(AuthenticatorTest, ReadsTheBearerTokenAndSaysWhatIsWrong) {
  Write(absl::StrCat(kAlice, " alice\n", kRoot, " root admin\n"));
  auto auth = Authenticator::Load(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ((*auth)->tokens(), 2u);
  const std::string bearer = absl::StrCat("Bearer ", kAlice);
  absl::StatusOr<Principal> alice = Call(**auth, {bearer});
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->name, "alice");
  EXPECT_FALSE(alice->admin);
  // The scheme is case-insensitive.
  const std::string lower = absl::StrCat("bearer   ", kRoot);
  absl::StatusOr<Principal> root = Call(**auth, {lower});
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_TRUE(root->admin);

  const std::string unknown = "Bearer unknown-token-0123456789";
  const std::string basic = absl::StrCat("Basic ", kAlice);
  const std::string two = absl::StrCat("Bearer ", kAlice, " more");
  struct Case {
    std::vector<absl::string_view> values;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{}, "missing 'authorization: Bearer <token>' metadata"},
      {{bearer, bearer}, "more than one authorization"},
      {{basic}, "malformed authorization metadata"},
      {{"Bearer"}, "malformed"},
      {{"Bearer "}, "malformed"},
      {{two}, "malformed"},
      {{unknown}, "not valid on this server"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Principal> caller = Call(**auth, c.values);
    EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated)
        << c.expected;
    EXPECT_THAT(caller.status().message(),
                AllOf(HasSubstr(c.expected), Not(HasSubstr(kAlice)),
                      Not(HasSubstr("unknown-token"))));
  }
}

TEST_F(AuthenticatorTest, ReloadSwapsAGoodFileAndKeepsTheOldOnError) {
  Write(absl::StrCat(kAlice, " alice\n"));
  auto auth = Authenticator::Load(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();
  const std::string alice = absl::StrCat("Bearer ", kAlice);
  const std::string bob = absl::StrCat("Bearer ", kBob);

  Write(absl::StrCat(kBob, " bob\n", kRoot, " root admin\n"));
  absl::StatusOr<size_t> reloaded = (*auth)->Reload();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(*reloaded, 2u);
  EXPECT_EQ(Call(**auth, {alice}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Call(**auth, {bob})->name, "bob");

  Write(absl::StrCat(kAlice, " alice\n", kAlice, " bob\n"));
  reloaded = (*auth)->Reload();
  EXPECT_EQ(reloaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reloaded.status().message(),
              HasSubstr(absl::StrCat(path_, ":2: this token already")));
  EXPECT_EQ((*auth)->tokens(), 2u);
  EXPECT_EQ(Call(**auth, {bob})->name, "bob");
  EXPECT_FALSE(Call(**auth, {alice}).ok());

  fs::remove(path_);
  EXPECT_THAT((*auth)->Reload().status().message(),
              HasSubstr("cannot open the file"));
  EXPECT_EQ(Call(**auth, {bob})->name, "bob");
}

TEST_F(AuthenticatorTest, LoadRefusesAMissingOrBadFile) {
  auto missing = Authenticator::Load(path_);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr(path_));
  Write("# nothing\n");
  EXPECT_THAT(Authenticator::Load(path_).status().message(),
              HasSubstr("no tokens"));
}

}  // namespace
}  // namespace actlab
