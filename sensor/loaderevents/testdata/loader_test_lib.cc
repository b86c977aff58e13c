// A shared library the loader sensor's root test dlopen()s: linked with a
// build id (the test compares the event's with the ELF note's).
extern "C" int tgd_loader_test_value(void) { return 42; }
