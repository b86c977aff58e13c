// Status propagation macros for absl::Status / absl::StatusOr.
//
// Debian's abseil (20220623) ships no status macros, so the project keeps its
// own, prefixed TGD_. Usage:
//   TGD_RETURN_IF_ERROR(DoThing());
//   TGD_ASSIGN_OR_RETURN(auto fd, OpenThing());
#ifndef TGDISPATCH_SENSOR_BASE_STATUS_MACROS_H_
#define TGDISPATCH_SENSOR_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TGD_STATUS_CONCAT_INNER_(a, b) a##b
#define TGD_STATUS_CONCAT_(a, b) TGD_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the caller if not OK.
#define TGD_RETURN_IF_ERROR(expr)                    \
  do {                                               \
    ::absl::Status tgd_status_ = (expr);             \
    if (!tgd_status_.ok()) return tgd_status_;       \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status,
// otherwise move-assigns its value to `lhs` (which may be a declaration).
#define TGD_ASSIGN_OR_RETURN(lhs, rexpr) \
  TGD_ASSIGN_OR_RETURN_IMPL_(TGD_STATUS_CONCAT_(tgd_statusor_, __LINE__), lhs, rexpr)

#define TGD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                               \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // TGDISPATCH_SENSOR_BASE_STATUS_MACROS_H_
