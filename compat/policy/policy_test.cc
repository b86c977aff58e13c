#include "compat/policy/policy.h"
#include "gtest/gtest.h"
TEST(X, Y) {}
