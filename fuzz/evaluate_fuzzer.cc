// Copyright actlab authors.
//
// Fuzzes the whole Evaluate path (request validation, baselines through
// oneDNN, PReLU, PWLU with inline or session parameters, backward passes) on
// an actlab.v1.EvaluateRequest parsed from arbitrary bytes. Any status is a
// valid outcome; only crashes, sanitizer reports and leaks are bugs.

#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "actlab/v1/actlab.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "kernels/baseline.h"
#include "server/evaluator.h"
#include "server/session/session_manager.h"
#include "server/session/sqlite_store.h"

namespace {

// Random session ids are out of the fuzzer's reach, so the corpus names the
// one session created at start-up by this placeholder instead.
constexpr char kSessionPlaceholder[] = "fuzz";
constexpr int64_t kMaxElements = int64_t{1} << 16;

struct Fixture {
  actlab::BaselineEngine engine;
  std::unique_ptr<actlab::SessionManager> sessions;
  std::unique_ptr<actlab::Evaluator> evaluator;
  std::string session_id;
};

void Die(const absl::Status& status) {
  std::fprintf(stderr, "evaluate_fuzzer setup: %s\n",
               status.ToString().c_str());
  std::abort();
}

// One layer-wise unit "layer" and one 4-channel unit "channel", so UnitRef
// requests reach both parameter layouts.
Fixture* MakeFixture() {
  // temp_directory_path honours TMPDIR, which run.sh points at its scratch
  // directory so the database goes away with it.
  std::string dir =
      (std::filesystem::temp_directory_path() / "actlab-evaluate-fuzzer-XXXXXX")
          .string();
  if (mkdtemp(dir.data()) == nullptr) std::abort();
  auto* fixture = new Fixture;
  auto store = actlab::SqliteStore::Open(dir + "/sessions.db");
  if (!store.ok()) Die(store.status());
  auto sessions =
      actlab::SessionManager::Open(*std::move(store), &fixture->engine);
  if (!sessions.ok()) Die(sessions.status());
  fixture->sessions = *std::move(sessions);

  actlab::v1::CreateSessionRequest request;
  request.add_units()->set_name("layer");
  actlab::v1::UnitConfig* channel = request.add_units();
  channel->set_name("channel");
  channel->set_granularity(actlab::v1::CHANNEL);
  channel->set_channels(4);
  channel->set_intervals(8);
  absl::StatusOr<actlab::v1::Session> session =
      fixture->sessions->CreateSession(actlab::Principal::Anonymous(), request);
  if (!session.ok()) Die(session.status());
  fixture->session_id = session->id();
  fixture->evaluator = std::make_unique<actlab::Evaluator>(
      &fixture->engine, fixture->sessions.get(), kMaxElements);
  return fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* const fixture = [] {
    // Protobuf logs every string field with invalid UTF-8, which random
    // bytes mostly are: thousands of lines a second that bury the findings.
    google::protobuf::SetLogHandler(nullptr);
    return MakeFixture();
  }();
  actlab::v1::EvaluateRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (request.has_unit() &&
      request.unit().session_id() == kSessionPlaceholder) {
    request.mutable_unit()->set_session_id(fixture->session_id);
  }
  actlab::v1::EvaluateResponse response;
  (void)fixture->evaluator->Evaluate(actlab::Principal::Anonymous(), &request,
                                     &response);
  return 0;
}
