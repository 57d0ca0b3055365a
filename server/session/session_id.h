// Copyright actlab authors.
//
// Session ids: 128 bits from the kernel's CSPRNG (getrandom), as 32
// lowercase hex characters. Unguessable, so an id doubles as a capability
// for its session.

#ifndef ACTLAB_SERVER_SESSION_SESSION_ID_H_
#define ACTLAB_SERVER_SESSION_SESSION_ID_H_

#include <string>

#include "absl/status/statusor.h"

namespace actlab {

// Unavailable if the OS cannot supply randomness.
absl::StatusOr<std::string> NewSessionId();

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_SESSION_ID_H_
