// The single test binary's entry point: GoogleTest over every unit and golden test, closing
// with one plain summary line ("tests: N passed, N failed, N skipped") that CI reads.
#include <gtest/gtest.h>

#include <cstdio>

namespace {

class SummaryPrinter : public ::testing::EmptyTestEventListener {
  void OnTestProgramEnd(const ::testing::UnitTest& unit) override {
    std::printf("tests: %d passed, %d failed, %d skipped\n", unit.successful_test_count(),
                unit.failed_test_count(), unit.skipped_test_count());
    std::fflush(stdout);
  }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new SummaryPrinter);  // gtest owns it
  return RUN_ALL_TESTS();
}
