// server/event_hub.h: order, cursors, waiting, the bound, and Close waking waiters.
#include <gtest/gtest.h>

#include <thread>

#include "server/event_hub.h"

namespace easel::server {
namespace {

TEST(ServerEventHub, DeliversInOrderAfterTheCursor) {
  EventHub hub;
  hub.Publish("j_1", "queued", {{"x", 1}});
  hub.Publish("j_2", "queued", nullptr);
  hub.Publish("j_1", "progress", {{"step", 1}});
  auto all = hub.WaitAfter(0, 0);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].seq, 1u);
  EXPECT_EQ(all[2].type, "progress");
  EXPECT_EQ(all[2].data["job_id"], "j_1");
  EXPECT_EQ(all[2].data["type"], "progress");
  EXPECT_EQ(all[1].data.size(), 2u);  // a null payload becomes {type, job_id}
  auto later = hub.WaitAfter(2, 0);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].seq, 3u);
  EXPECT_TRUE(hub.WaitAfter(3, 10).empty());  // times out
}

TEST(ServerEventHub, WakesAWaiterAndKeepsOnlyTheLastEvents) {
  EventHub hub(4);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    hub.Publish("j", "started", nullptr);
  });
  auto got = hub.WaitAfter(0, 5000);
  t.join();
  ASSERT_EQ(got.size(), 1u);
  for (int i = 0; i < 10; ++i) hub.Publish("j", "progress", {{"step", i}});
  auto kept = hub.WaitAfter(0, 0);
  ASSERT_EQ(kept.size(), 4u);  // a slow reader skips what fell off
  EXPECT_EQ(kept.back().data["step"], 9);
  EXPECT_EQ(hub.last_seq(), 11u);
}

TEST(ServerEventHub, CloseWakesEveryWaiter) {
  EventHub hub;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    hub.Close();
  });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(hub.WaitAfter(0, 10000).empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  t.join();
  EXPECT_TRUE(hub.closed());
  hub.Publish("j", "late", nullptr);  // ignored after Close
  EXPECT_EQ(hub.last_seq(), 0u);
}

}  // namespace
}  // namespace easel::server
