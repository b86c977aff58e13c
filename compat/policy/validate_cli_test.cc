#include "compat/policy/validate_cli.h"
#include "gtest/gtest.h"
TEST(X, Y) {}
