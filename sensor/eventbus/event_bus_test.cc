// EventBus tests: fan-out, bounded queues, slow subscribers, close.
#include "sensor/eventbus/event_bus.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace tgd {
namespace {

tetragon::GetEventsResponse Ev(const std::string& node) {
  tetragon::GetEventsResponse ev;
  ev.set_node_name(node);
  return ev;
}

absl::Time Soon() { return absl::Now() + absl::Milliseconds(200); }

TEST(EventBusTest, EverySubscriberGetsEveryEventInOrder) {
  EventBus bus;
  auto a = bus.Subscribe(10);
  auto b = bus.Subscribe(10);
  bus.Publish(Ev("1"));
  bus.Publish(Ev("2"));
  for (auto* sub : {a.get(), b.get()}) {
    EventBus::Event ev;
    ASSERT_TRUE(sub->Next(&ev, Soon()));
    EXPECT_EQ(ev->node_name(), "1");
    ASSERT_TRUE(sub->Next(&ev, Soon()));
    EXPECT_EQ(ev->node_name(), "2");
    EXPECT_FALSE(sub->Next(&ev, absl::Now() + absl::Milliseconds(10)));
  }
  EXPECT_EQ(bus.stats().published, 2u);
  EXPECT_EQ(bus.stats().subscribers, 2u);
}

TEST(EventBusTest, SlowSubscriberLosesOnlyItsOwnEvents) {
  EventBus bus;
  auto slow = bus.Subscribe(2);
  auto fast = bus.Subscribe(100);
  for (int i = 0; i < 5; ++i) bus.Publish(Ev(std::to_string(i)));
  EXPECT_EQ(slow->dropped(), 3u);
  EXPECT_EQ(fast->dropped(), 0u);
  EXPECT_EQ(bus.stats().dropped, 3u);
  EventBus::Event ev;
  ASSERT_TRUE(slow->Next(&ev, Soon()));
  EXPECT_EQ(ev->node_name(), "0");  // the oldest unread ones are kept
  int fast_count = 0;
  while (fast->Next(&ev, absl::Now() + absl::Milliseconds(10))) ++fast_count;
  EXPECT_EQ(fast_count, 5);
}

TEST(EventBusTest, PublishDoesNotBlockOnAStuckSubscriber) {
  EventBus bus;
  auto stuck = bus.Subscribe(1);  // never read
  std::atomic<int> done{0};
  std::thread publisher([&] {
    for (int i = 0; i < 10000; ++i) bus.Publish(Ev("x"));
    done = 1;
  });
  publisher.join();
  EXPECT_EQ(done.load(), 1);
  EXPECT_EQ(stuck->dropped(), 9999u);
}

TEST(EventBusTest, NextWakesForAPublishFromAnotherThread) {
  EventBus bus;
  auto sub = bus.Subscribe(4);
  std::thread publisher([&] {
    absl::SleepFor(absl::Milliseconds(20));
    bus.Publish(Ev("late"));
  });
  EventBus::Event ev;
  EXPECT_TRUE(sub->Next(&ev, absl::Now() + absl::Seconds(10)));
  EXPECT_EQ(ev->node_name(), "late");
  publisher.join();
}

TEST(EventBusTest, CloseWakesWaitersAndUnsubscribeRemoves) {
  EventBus bus;
  auto sub = bus.Subscribe(4);
  std::thread closer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    bus.Close();
  });
  EventBus::Event ev;
  EXPECT_FALSE(sub->Next(&ev, absl::Now() + absl::Seconds(10)));
  closer.join();
  EXPECT_TRUE(bus.closed());
  bus.Publish(Ev("after close"));
  EXPECT_EQ(bus.stats().published, 0u);
  sub.reset();
  EXPECT_EQ(bus.stats().subscribers, 0u);
}

TEST(EventBuilderTest, EventPointsAtSharedProcessAndKeepsItAlive) {
  EventBus bus;
  auto sub = bus.Subscribe(4);
  std::weak_ptr<const tetragon::Process> weak;
  {
    auto proc = std::make_shared<tetragon::Process>();
    proc->set_binary("/bin/sh");
    proc->set_exec_id("x");
    std::shared_ptr<const tetragon::Process> shared = proc;
    weak = shared;
    EventBuilder b;
    auto* exec = b.event()->mutable_process_exec();
    exec->unsafe_arena_set_allocated_process(b.Keep(shared));
    b.event()->set_node_name("node");
    EXPECT_EQ(b.Keep(nullptr), nullptr);
    bus.Publish(std::move(b).Finish());
  }
  EXPECT_FALSE(weak.expired());  // held by the queued event
  EventBus::Event ev;
  ASSERT_TRUE(sub->Next(&ev, absl::InfinitePast()));
  EXPECT_EQ(ev->process_exec().process().binary(), "/bin/sh");
  EXPECT_EQ(ev->node_name(), "node");
  tetragon::GetEventsResponse copy = *ev;  // deep, independent copy
  EXPECT_EQ(copy.process_exec().process().exec_id(), "x");
  EXPECT_NE(&copy.process_exec().process(), &ev->process_exec().process());
  ev.reset();
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(copy.process_exec().process().binary(), "/bin/sh");
  EXPECT_FALSE(sub->Next(&ev, absl::InfinitePast()));
}

}  // namespace
}  // namespace tgd
