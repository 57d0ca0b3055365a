// Copyright actlab authors.
//
// Who makes a call. With authentication on, a bearer token names the
// principal (token_table.h); with it off every caller is Anonymous(). A
// session belongs to the principal that created it: only that principal
// and admins can read, change or list it.

#ifndef ACTLAB_SERVER_AUTH_PRINCIPAL_H_
#define ACTLAB_SERVER_AUTH_PRINCIPAL_H_

#include <string>

namespace actlab {

struct Principal {
  // Owner recorded on the sessions this principal creates; "" for the
  // anonymous principal.
  std::string name;
  // Sees and acts on every session, whoever owns it.
  bool admin = false;

  // The caller when authentication is off: the full access of a server
  // without auth, and sessions owned by "".
  static Principal Anonymous() { return {"", true}; }
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_AUTH_PRINCIPAL_H_
