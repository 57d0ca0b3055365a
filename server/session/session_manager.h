// Copyright actlab authors.
//
// SessionManager holds the calibration state of PWLU units in sessions and
// implements the session RPCs. It keeps no session state of its own: every
// call reads what it needs from the SessionStore and a change is committed
// there before the call returns, so an acknowledged change survives a crash
// and any number of managers (server replicas) on one store serve the same
// sessions. A failing call changes nothing.
//
// Lifecycle of a unit (see realignment.h for the math):
//   STATISTICS (phase I): the unit acts as its initial shape. Observe
//     returns that shape's output (the exact baseline kernel) and folds the
//     batch statistics in. Evaluate with the unit uses its PWLU parameters,
//     which at this point approximate the initial shape on
//     [-init_bound, init_bound] (the PWLU tails are the shape's end slopes).
//   TRAINING (phase II): reached by FitBoundaries, or at creation when
//     fixed_bounds is set (the paper's fix-init-X ablation). TrainStep and
//     Fit change the parameters by gradient.
//
// Training runs (actlab.v1.Run) have session-scoped sequential ids,
// "run-000001" up, readable and ordered; the session id remains the only
// capability. Sequence numbers come from a counter in the session's stored
// row, drawn inside the transaction that writes the run, so replicas never
// hand out one id twice (a rolled-back transaction returns its number, so
// ids are dense in practice but need not be). A Fit is one run. Consecutive
// TrainStep calls on a unit with the same optimizer settings and trainable
// groups form one TRAIN_STEPS run, RUNNING while open; a TrainStep with
// other settings, a Fit or an import over the unit closes it as COMPLETED
// (FitBoundaries needs phase STATISTICS, so a unit it changes has no open
// run). A TrainStep records its loss in the history only when the client
// sends one; `steps` counts every step. ListRuns and GetRun read the store,
// so a running Fit shows its last checkpoint.
//
// Session.update_time is the latest change to the session or any of its
// units; a unit update rewrites only that unit's stored row, and the
// session's row at most once per kTouchResolution (SessionTransaction::
// Touch, for the idle-session TTL).
//
// Consistency (thread-safe, and across processes): a mutating call on a
// unit (Observe, FitBoundaries, TrainStep, a Fit's start and checkpoints,
// ImportUnit) reads, computes and writes inside one store transaction that
// holds the unit's row lock (SessionStore::Update), so N concurrent Observe
// calls on one unit, from any replicas, fold N batches in some serial
// order. FitBoundaries over all units locks them all, in position order.
// Work that depends only on the request and the unit's config (Observe's
// moments and output, input validation) is done before the lock and redone
// under it only if an import replaced the config meanwhile.
//
// Fit is optimistic instead: it reads the unit under the lock, trains a
// private copy with no lock held, and commits at each checkpoint (about
// every kFitCheckpointInterval, and at the end) in a locked transaction only
// if the unit's version is still the one it last read or wrote. If anything
// else changed the unit meanwhile (TrainStep, another Fit, an import) the Fit
// ends with Aborted and its run FAILED, keeping the other call's change and
// the Fit's earlier checkpoints. Of two concurrent Fits on a unit, the
// second to checkpoint therefore aborts. Reads and other units never wait
// for a Fit. A Fit whose server died leaves its run RUNNING until a manager
// opens and finds it not checkpointed for `fit_lease` (see Open).
//
// Limits (SessionOptions): at most max_sessions sessions in the store, over
// all replicas (CreateSession beyond it is ResourceExhausted); at most
// max_units_per_session units per session (a CreateSession asking for more
// is InvalidArgument, an AddUnit or a new ImportUnit on a full session
// ResourceExhausted). Each message names the limit and its value.
//
// Idle sessions: with a session_ttl, ExpireIdleSessions deletes every
// session (units and runs with it) whose update_time is older than the TTL.
// Changes count as activity (CreateSession, AddUnit, Observe,
// FitBoundaries, TrainStep, ImportUnit, a Fit's start and each of its
// checkpoints, about every kFitCheckpointInterval, so a running Fit keeps
// its session); reads (GetSession, GetUnit, Evaluate, SampleCurve,
// ExportUnit, ListRuns...) do not, so a session only read expires. The
// store records activity to within kTouchResolution, and a session is
// deleted only once its stored time is older than session_ttl plus that,
// so never before it was idle for session_ttl.
//
// Ownership: every session belongs to the principal that created it (""
// for the anonymous caller of a server without authentication). Methods
// that name a session take the caller and treat a session it may not see
// (another principal's, unless the caller is an admin) exactly as one that
// does not exist; ListSessions lists only the sessions the caller may see.
//
// Errors: InvalidArgument naming the field, NotFound for an unknown session
// or unit, AlreadyExists, FailedPrecondition for calls in the wrong phase,
// ResourceExhausted for a limit, Unavailable/Internal from the store.
// Messages go to clients verbatim.

#ifndef ACTLAB_SERVER_SESSION_SESSION_MANAGER_H_
#define ACTLAB_SERVER_SESSION_SESSION_MANAGER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "actlab/v1/actlab.pb.h"
#include "kernels/baseline.h"
#include "kernels/channel_layout.h"
#include "kernels/pwlu.h"
#include "kernels/running_moments.h"
#include "server/auth/principal.h"
#include "server/session/session_store.h"
#include "server/tensor_codec.h"

namespace actlab {

// What Evaluate needs to run a session unit.
struct SessionUnitParams {
  PwluParams params;
  v1::Granularity granularity = v1::LAYER;
  std::optional<int> channel_axis;  // unset: DefaultChannelAxis(rank)
};

// ObserveStream's state between chunks: the unit's config as of the
// header and the moments of the chunks so far. O(units) memory, no tensor.
class StreamedBatch {
 public:
  int64_t elements() const { return elements_; }
  // Every chunk holds a multiple of this many elements: channels x inner
  // for a channel-wise unit, 1 for a layer-wise one.
  int64_t row_elements() const { return row_elements_; }

 private:
  friend class SessionManager;

  v1::UnitRef ref_;
  std::string label_;
  v1::UnitConfig config_;
  ResolvedActivation shape_;
  ChannelLayout layout_;  // of the whole batch
  int64_t elements_ = 0;
  int64_t row_elements_ = 1;
  MomentAccumulator moments_;
};

struct SessionOptions {
  // Runs of Fits still RUNNING in the store and not checkpointed for
  // `fit_lease` are closed as FAILED when the manager opens ("the server
  // stopped before the Fit ended"): with a store no other process uses, a
  // lease of zero closes them all; with replicas sharing a store it must
  // exceed kFitCheckpointInterval by a margin so live Fits stay open.
  absl::Duration fit_lease = absl::ZeroDuration();
  int64_t max_sessions = 1000;      // >= 1
  int max_units_per_session = 512;  // >= 1
  // Zero: sessions never expire. Else at least kMinSessionTtl.
  absl::Duration session_ttl = absl::ZeroDuration();
};

class SessionManager {
 public:
  // Serves the sessions in `store` (see SessionOptions); InvalidArgument
  // for options out of range. `engine` must outlive the manager.
  static absl::StatusOr<std::unique_ptr<SessionManager>> Open(
      std::unique_ptr<SessionStore> store, BaselineEngine* engine,
      const SessionOptions& options = {});

  ~SessionManager();
  SessionManager(const SessionManager&) = delete;
  SessionManager& operator=(const SessionManager&) = delete;

  // Validates every unit config before writing anything; unit names must be
  // distinct, at most max_units_per_session of them. display_name is at
  // most kMaxDisplayNameLength bytes. ResourceExhausted when the store
  // holds max_sessions. The session belongs to `caller`.
  absl::StatusOr<v1::Session> CreateSession(
      const Principal& caller, const v1::CreateSessionRequest& request);
  absl::StatusOr<v1::GetSessionResponse> GetSession(
      const Principal& caller, absl::string_view session_id);
  // The sessions `caller` may see, ordered by (create_time, id).
  absl::StatusOr<v1::ListSessionsResponse> ListSessions(
      const Principal& caller);
  absl::Status DeleteSession(const Principal& caller,
                             absl::string_view session_id);
  // AlreadyExists for a name the session has; ResourceExhausted when the
  // session has max_units_per_session units.
  absl::StatusOr<v1::Unit> AddUnit(const Principal& caller,
                                   const v1::AddUnitRequest& request);

  // Deletes the sessions idle for longer than session_ttl (see the header
  // comment) and returns how many; nothing without a TTL. Safe with
  // replicas doing the same on one store.
  absl::StatusOr<int64_t> ExpireIdleSessions();

  const SessionOptions& options() const { return options_; }

  // Phase I step: folds `input`'s statistics into the unit and writes the
  // initial shape's output to `output` (input.elements floats). The unit
  // must be in STATISTICS; for CHANNEL the input's extent along the channel
  // axis must equal the unit's channels; NaN/inf is InvalidArgument. Adds
  // the time spent computing (statistics and output, not the store) to
  // *kernel_ns when given.
  absl::StatusOr<v1::RunningStats> Observe(const Principal& caller,
                                           const v1::UnitRef& ref,
                                           const TensorView& input,
                                           float* output,
                                           int64_t* kernel_ns = nullptr);

  // Observe of one batch that arrives in chunks (ObserveStream), with
  // Observe's checks and results: BeginObserveStream checks the unit and
  // the declared shape (`declared.data` unused); ObserveStreamChunk writes
  // the initial shape's output for the next `n` elements (whole rows) and
  // gathers their moments, failing with InvalidArgument on NaN/inf;
  // FinishObserveStream folds the whole batch in one transaction, exactly
  // once. Nothing is written before FinishObserveStream, so a stream that
  // fails or is abandoned changes nothing. Should an import replace the
  // unit's config during the stream, Finish fails with Aborted.
  // The caller is checked once, here: a session's owner never changes.
  absl::StatusOr<StreamedBatch> BeginObserveStream(const Principal& caller,
                                                   const v1::UnitRef& ref,
                                                   const TensorView& declared);
  absl::Status ObserveStreamChunk(StreamedBatch* batch, const float* x,
                                  int64_t n, float* output);
  absl::StatusOr<v1::RunningStats> FinishObserveStream(
      const StreamedBatch& batch);

  // Phase II entry: realigns one unit (request.unit) or every unit of the
  // session still in STATISTICS (request.unit empty; units in TRAINING are
  // skipped), in one transaction. A named unit in TRAINING, or any unit to
  // fit without observed batches, is FailedPrecondition and nothing changes.
  absl::StatusOr<v1::FitBoundariesResponse> FitBoundaries(
      const Principal& caller, const v1::FitBoundariesRequest& request);

  absl::StatusOr<v1::Unit> GetUnit(const Principal& caller,
                                   const v1::UnitRef& ref);
  absl::StatusOr<SessionUnitParams> GetUnitParameters(const Principal& caller,
                                                      const v1::UnitRef& ref);

  // Samples the PWLU (PwluForward) on a grid: by default the selected
  // channels' [min B_L, max B_R] widened by a quarter of its width each
  // side, 256 points; points in [2, kMaxCurvePoints]; at most
  // kMaxCurveSamples values over all curves.
  absl::StatusOr<v1::SampleCurveResponse> SampleCurve(
      const Principal& caller, const v1::SampleCurveRequest& request);

  // format_version 1. An import is validated completely (config, phase,
  // statistics, parameters); it takes the export's name unless
  // request.unit is set, and replaces an existing unit of that name only
  // with request.replace (else AlreadyExists). A replaced unit keeps its
  // position and continues its version; batches_observed restarts from the
  // imported stats.batches and training_steps from 0, its optimizer from the
  // defaults, and its open TRAIN_STEPS run is closed.
  absl::StatusOr<v1::UnitExport> ExportUnit(const Principal& caller,
                                            const v1::UnitRef& ref);
  absl::StatusOr<v1::Unit> ImportUnit(const Principal& caller,
                                      const v1::ImportUnitRequest& request);

  // Phase II step with a gradient the client computed: dL/dx of `input`
  // into response->grad_input (so the client can keep back-propagating),
  // then one update of the unit's optimizer (ApplyOptimizerStep with the
  // unit's min_width). Optimizer settings and trainable groups persist per
  // unit; fields the request leaves unset keep the unit's (Adam lr 1e-3,
  // values and slopes for a new unit); a change of kind resets the
  // optimizer's state. The parameters, settings, state, training_steps and
  // the run are written in one transaction. The unit must be in TRAINING;
  // input and grad_output must share a shape and be finite.
  absl::Status TrainStep(const Principal& caller,
                         const v1::TrainStepRequest& request,
                         v1::TrainStepResponse* response);

  // Fits the unit to the request's target by MSE (trainer.h) and returns the
  // summary. `progress` receives a message at most every
  // progress_interval_ms; returning false (the client went away) cancels.
  // `cancelled` is polled between steps; once true, the last completed step
  // is committed, the run ends CANCELLED and the call returns Cancelled.
  // A Fit leaves the unit's own optimizer settings and state alone.
  absl::StatusOr<v1::FitSummary> Fit(
      const Principal& caller, const v1::FitRequest& request,
      absl::FunctionRef<bool()> cancelled,
      absl::FunctionRef<bool(const v1::FitProgress&)> progress);

  // Runs by sequence, without their history.
  absl::StatusOr<v1::ListRunsResponse> ListRuns(
      const Principal& caller, const v1::ListRunsRequest& request);
  absl::StatusOr<v1::Run> GetRun(const Principal& caller,
                                 const v1::GetRunRequest& request);

  static constexpr int kMaxDisplayNameLength = 256;
  static constexpr int kDefaultCurvePoints = 256;
  static constexpr int kMaxCurvePoints = 100000;
  static constexpr int64_t kMaxCurveSamples = int64_t{1} << 22;
  static constexpr int kExportFormatVersion = 1;
  static constexpr absl::Duration kFitCheckpointInterval = absl::Seconds(1);
  // Twice the checkpoint interval, so that the gap between a running Fit's
  // checkpoints never reaches the TTL.
  static constexpr absl::Duration kMinSessionTtl = absl::Seconds(2);

 private:
  struct StoredUnit;

  SessionManager(std::unique_ptr<SessionStore> store, BaselineEngine* engine,
                 const SessionOptions& options);

  absl::Status CloseInterruptedFits(absl::Duration lease);
  // OK when `caller` may use session `session_id`: an admin always (the
  // call then reports a missing session itself), others when they own it.
  // For a session of another principal, exactly the NotFound of a session
  // that does not exist, so ids cannot be probed. Owners never change, so
  // the check holds for the rest of the call.
  absl::Status Authorize(const Principal& caller, absl::string_view session_id);
  // The unit `ref` names, read without a lock.
  absl::StatusOr<StoredUnit> ReadUnit(const v1::UnitRef& ref);
  // The config of the unit an Observe of `input` may run on: it exists,
  // is in STATISTICS, and the input has elements.
  absl::StatusOr<v1::UnitConfig> ObservableConfig(const v1::UnitRef& ref,
                                                  absl::string_view label,
                                                  const TensorView& input);
  // Folds `moments` of a batch (taken under `config`) into the unit in one
  // locked transaction. Should the stored config differ (an import
  // replaced it), `on_config_change` gets the new one and must either
  // recompute `config` and `moments` (both by reference) or fail.
  absl::StatusOr<v1::RunningStats> FoldObserved(
      const v1::UnitRef& ref, absl::string_view label,
      const v1::UnitConfig& config, const BatchMoments& moments,
      absl::FunctionRef<absl::Status(const v1::UnitConfig&)> on_config_change);
  // NotFound for a unit the store did not have: for the session when it is
  // missing too, else for the unit.
  absl::Status UnitMissing(absl::string_view session, absl::string_view unit);
  // ResourceExhausted when a unit at `next_position` would exceed
  // max_units_per_session.
  absl::Status CheckRoomForUnit(absl::string_view session,
                                int64_t next_position) const;

  const std::unique_ptr<SessionStore> store_;
  BaselineEngine* const engine_;
  const SessionOptions options_;
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_SESSION_MANAGER_H_
