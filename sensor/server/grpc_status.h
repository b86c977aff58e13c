// absl::Status -> grpc::Status, in one place (codes map one to one).
#ifndef TGDISPATCH_SENSOR_SERVER_GRPC_STATUS_H_
#define TGDISPATCH_SENSOR_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tgd {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace tgd

#endif  // TGDISPATCH_SENSOR_SERVER_GRPC_STATUS_H_
