// Tests for FileDescriptor and the status helpers.
#include "sensor/base/file_descriptor.h"

#include <fcntl.h>
#include <unistd.h>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "sensor/base/errno_status.h"
#include "sensor/base/status_macros.h"

namespace tgd {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

TEST(FileDescriptorTest, ClosesOnDestruction) {
  int raw = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  { FileDescriptor fd(raw); EXPECT_TRUE(IsOpen(raw)); }
  EXPECT_FALSE(IsOpen(raw));
}

TEST(FileDescriptorTest, MoveTransfersOwnership) {
  int raw = open("/dev/null", O_RDONLY | O_CLOEXEC);
  FileDescriptor a(raw);
  FileDescriptor b(std::move(a));
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(b.get(), raw);
  FileDescriptor c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(IsOpen(raw));
}

TEST(FileDescriptorTest, DupIsIndependent) {
  int raw = open("/dev/null", O_RDONLY | O_CLOEXEC);
  FileDescriptor orig(raw);
  absl::StatusOr<FileDescriptor> copy = FileDescriptor::Dup(raw);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_NE(copy->get(), raw);
  orig.Reset();
  EXPECT_TRUE(IsOpen(copy->get()));
}

TEST(FileDescriptorTest, DupOfBadFdFails) {
  absl::StatusOr<FileDescriptor> copy = FileDescriptor::Dup(-1);
  EXPECT_FALSE(copy.ok());
  EXPECT_NE(copy.status().message().find("fcntl"), absl::string_view::npos);
}

absl::StatusOr<int> Half(int v) {
  if (v % 2) return absl::InvalidArgumentError("odd");
  return v / 2;
}
absl::StatusOr<int> Quarter(int v) {
  TGD_ASSIGN_OR_RETURN(int h, Half(v));
  TGD_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}
absl::Status CheckQuarter(int v) {
  TGD_RETURN_IF_ERROR(Quarter(v).status());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, PropagateErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckQuarter(4).ok());
  EXPECT_FALSE(CheckQuarter(2).ok());
}

TEST(ErrnoStatusTest, MapsCodesAndNamesOperation) {
  absl::Status s = LibbpfStatus(-ENOENT, "bpf_map_lookup_elem");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("bpf_map_lookup_elem"), absl::string_view::npos);
  EXPECT_TRUE(LibbpfStatus(3, "x").ok());
  EXPECT_EQ(ErrnoStatus(EPERM, "op").code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace tgd
