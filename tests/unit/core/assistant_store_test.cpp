// SqliteAssistantStore: sessions, messages with tool calls, confirmations decided once,
// cascading deletes (schema v4 on a fresh database).
#include "store/assistant_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "io_temp_dir.h"

namespace easel::store {
namespace {

TEST(AssistantStore, SessionsMessagesAndConfirmations) {
  testing::TempDir dir;
  auto store = SqliteAssistantStore::Open(dir.File("easel.db"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto& s = **store;
  auto a = s.CreateSession("first");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->id.rfind("s_", 0), 0u);
  auto b = s.CreateSession("");
  ASSERT_TRUE(b.ok());

  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a's update comes later
  llm::Message call{"assistant", "", {{"call_1", "queue_generation", R"({"prompt":"x"})"}}, "", ""};
  llm::Message result{
      "tool", "{\"status\":\"awaiting_confirmation\"}", {}, "call_1", "queue_generation"};
  auto added = s.Append(a->id, {{"user", "hi", {}, "", ""}, call, result});
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  ASSERT_EQ(added->size(), 3u);
  auto msgs = s.Messages(a->id);
  ASSERT_TRUE(msgs.ok());
  ASSERT_EQ(msgs->size(), 3u);
  EXPECT_EQ((*msgs)[1].message.tool_calls.at(0).name, "queue_generation");
  EXPECT_EQ((*msgs)[1].message.tool_calls.at(0).arguments_json, R"({"prompt":"x"})");
  EXPECT_EQ((*msgs)[2].message.tool_call_id, "call_1");
  EXPECT_EQ(s.Append("s_nope", {{"user", "x", {}, "", ""}}).status().code(), Code::kNotFound);

  AssistantConfirmation c;
  c.session_id = a->id;
  c.call_id = "call_1";
  c.name = "queue_generation";
  c.arguments_json = R"({"prompt":"x"})";
  c.message_id = (*added)[2].id;
  ASSERT_TRUE(s.AddConfirmation(c).ok());
  auto pending = s.PendingConfirmations(a->id);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  ASSERT_TRUE(s.Decide(a->id, "call_1", true, "j_1", "{\"status\":\"queued\"}").ok());
  EXPECT_EQ(s.Decide(a->id, "call_1", false, "", "x").code(), Code::kInvalidArgument);
  EXPECT_EQ(s.Decide(a->id, "call_9", false, "", "x").code(), Code::kNotFound);
  auto got = s.GetConfirmation(a->id, "call_1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, "approved");
  EXPECT_EQ(got->job_id, "j_1");
  EXPECT_EQ(s.Messages(a->id)->at(2).message.content, "{\"status\":\"queued\"}");

  auto list = s.ListSessions();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, a->id);  // most recently updated first
  ASSERT_TRUE(s.DeleteSession(a->id).ok());
  EXPECT_EQ(s.GetSession(a->id).status().code(), Code::kNotFound);
  EXPECT_TRUE(s.Messages(a->id)->empty());
  EXPECT_EQ(s.GetConfirmation(a->id, "call_1").status().code(), Code::kNotFound);
  EXPECT_EQ(s.DeleteSession(a->id).code(), Code::kNotFound);
}

}  // namespace
}  // namespace easel::store
