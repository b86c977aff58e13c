// TSan annotations for Debian's abseil, linked into test binaries only under
// `--config=tsan`.
//
// Debian's libabsl_synchronization is not built with -fsanitize=thread, so
// TSan cannot see that absl::Mutex, absl::CondVar and absl::Notification
// order memory: every access guarded by an absl::Mutex is reported as a race
// (a two-thread counter under absl::MutexLock is enough). Instead of
// suppressing those reports (which would hide real races too), this file
// defines the public entry points in the test binary, where they take
// precedence over the library's (ELF symbol interposition); each calls the
// library's own function (dlsym RTLD_NEXT) and tells TSan what it did:
// acquire after a lock is taken, release before it is given up. The
// annotations are exactly the happens-before edges the mutex provides.
//
// Known limits, why tools/test.sh runs only the policy manager's tests
// under TSan:
// - //sensor/server:fgs_service_test: gRPC (uninstrumented) hands request
//   bytes from the client's thread to the server's with its own atomics;
//   TSan sees the protobuf (de)serialization on both sides through its
//   memcpy interceptor and reports a race in most runs (5 of 6 here), even
//   with the generated code uninstrumented. Only a suppression covering our
//   own string copies would silence it.
// - //sensor/eventbus:event_bus_test crashes under TSan (SEGV in protobuf's
//   RepeatedPtrFieldBase::DestroyProtos during an arena's teardown, inside
//   Debian's uninstrumented libprotobuf; not a race report, and ASan finds
//   nothing there).
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace {

// The library's definition of `mangled` (the next one after this binary).
template <typename F>
F Real(const char* mangled) {
  void* f = dlsym(RTLD_NEXT, mangled);
  if (f == nullptr) {
    fprintf(stderr, "absl_sync_annotations: %s not found: %s\n", mangled, dlerror());
    abort();
  }
  return reinterpret_cast<F>(f);
}

// The mangled names are those of Debian 12's abseil (inline namespace
// "debian3"); a different build fails loudly at the first call.
#define TGD_REAL(type, sym) static const auto real = Real<type>(sym)

// A condition is evaluated inside the library with the mutex held, between
// lock and unlock operations the wrappers do not see: the wrapped condition
// acquires before and releases after evaluating.
struct Annotated {
  const absl::Condition* cond;
  void* mu;
};
bool EvalAfterAcquire(void* arg) {
  auto* a = static_cast<Annotated*>(arg);
  __tsan_acquire(a->mu);
  bool r = a->cond->Eval();
  __tsan_release(a->mu);
  return r;
}

// abseil's own deadlock detector keeps a global graph behind a spin lock
// TSan cannot see (reports inside the library, via gRPC's mutexes); TSan
// checks lock order itself.
const bool kNoAbslDeadlockGraph = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

}  // namespace

// Wraps `cond` (a const Condition&) for the mutex `mu`.
#define TGD_WRAP(cond, mu) \
  Annotated annotated{&cond, mu}; \
  const Condition wrapped(&EvalAfterAcquire, &annotated)

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  TGD_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv");
  real(this);
  __tsan_acquire(this);
}
void Mutex::Unlock() {
  TGD_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv");
  __tsan_release(this);
  real(this);
}
void Mutex::ReaderLock() {
  TGD_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  real(this);
  __tsan_acquire(this);
}
void Mutex::ReaderUnlock() {
  TGD_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  __tsan_release(this);
  real(this);
}
bool Mutex::TryLock() {
  TGD_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv");
  bool ok = real(this);
  if (ok) __tsan_acquire(this);
  return ok;
}
bool Mutex::ReaderTryLock() {
  TGD_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  bool ok = real(this);
  if (ok) __tsan_acquire(this);
  return ok;
}
void Mutex::LockWhen(const Condition& cond) {
  TGD_REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  TGD_WRAP(cond, this);
  real(this, wrapped);
  __tsan_acquire(this);
}
void Mutex::ReaderLockWhen(const Condition& cond) {
  TGD_REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  TGD_WRAP(cond, this);
  real(this, wrapped);
  __tsan_acquire(this);
}
bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  TGD_REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
           "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  TGD_WRAP(cond, this);
  bool r = real(this, wrapped, timeout);
  __tsan_acquire(this);  // held either way
  return r;
}
bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  TGD_REAL(bool (*)(Mutex*, const Condition&, absl::Time),
           "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  TGD_WRAP(cond, this);
  bool r = real(this, wrapped, deadline);
  __tsan_acquire(this);
  return r;
}
void Mutex::Await(const Condition& cond) {
  TGD_REAL(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  __tsan_release(this);
  TGD_WRAP(cond, this);
  real(this, wrapped);
  __tsan_acquire(this);
}
bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  TGD_REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
           "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  __tsan_release(this);
  TGD_WRAP(cond, this);
  bool r = real(this, wrapped, timeout);
  __tsan_acquire(this);
  return r;
}
bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  TGD_REAL(bool (*)(Mutex*, const Condition&, absl::Time),
           "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  __tsan_release(this);
  TGD_WRAP(cond, this);
  bool r = real(this, wrapped, deadline);
  __tsan_acquire(this);
  return r;
}

void CondVar::Wait(Mutex* mu) {
  TGD_REAL(void (*)(CondVar*, Mutex*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  real(this, mu);
  __tsan_acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  TGD_REAL(bool (*)(CondVar*, Mutex*, absl::Duration),
           "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(mu);
  bool r = real(this, mu, timeout);
  __tsan_acquire(mu);
  return r;
}
bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  TGD_REAL(bool (*)(CondVar*, Mutex*, absl::Time),
           "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  __tsan_release(mu);
  bool r = real(this, mu, deadline);
  __tsan_acquire(mu);
  return r;
}

void Notification::Notify() {
  TGD_REAL(void (*)(Notification*), "_ZN4absl7debian312Notification6NotifyEv");
  __tsan_release(this);
  real(this);
}
void Notification::WaitForNotification() const {
  TGD_REAL(void (*)(const Notification*), "_ZNK4absl7debian312Notification19WaitForNotificationEv");
  real(this);
  __tsan_acquire(const_cast<Notification*>(this));
}
bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  TGD_REAL(bool (*)(const Notification*, absl::Duration),
           "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  bool r = real(this, timeout);
  if (r) __tsan_acquire(const_cast<Notification*>(this));
  return r;
}
bool Notification::WaitForNotificationWithDeadline(absl::Time deadline) const {
  TGD_REAL(bool (*)(const Notification*, absl::Time),
           "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  bool r = real(this, deadline);
  if (r) __tsan_acquire(const_cast<Notification*>(this));
  return r;
}

ABSL_NAMESPACE_END
}  // namespace absl
