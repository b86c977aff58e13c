// DataChunks: joining chunk records into an event's buffers, and its
// bounds against lossy and hostile streams.
#include "sensor/loader/data_chunks.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace tgd {
namespace {

std::vector<char> Chunk(uint64_t id, uint16_t arg, uint32_t offset, const std::string& bytes) {
  tgd_data_chunk_hdr h{};
  h.op = TGD_EV_DATA;
  h.arg = arg;
  h.id = id;
  h.offset = offset;
  h.len = static_cast<uint32_t>(bytes.size());
  std::vector<char> out(sizeof(h) + bytes.size());
  memcpy(out.data(), &h, sizeof(h));
  memcpy(out.data() + sizeof(h), bytes.data(), bytes.size());
  return out;
}

void Add(DataChunks& c, const std::vector<char>& rec) { c.AddChunk(rec.data(), rec.size()); }

tgd_policy_event Event(uint64_t id, uint32_t n_args) {
  tgd_policy_event ev{};
  ev.op = TGD_EV_POLICY;
  ev.n_args = n_args;
  ev.data_id = id;
  return ev;
}

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed) & 0xff);
  return s;
}

TEST(DataChunksTest, JoinsChunksInOrderPerArgument) {
  DataChunks c;
  const std::string a = Pattern(TGD_DATA_CHUNK + 100, 1), b = Pattern(3000, 2);
  Add(c, Chunk(7, 0, 0, a.substr(0, TGD_DATA_CHUNK)));
  Add(c, Chunk(7, 2, 0, b));
  Add(c, Chunk(7, 0, TGD_DATA_CHUNK, a.substr(TGD_DATA_CHUNK)));
  tgd_policy_event ev = Event(7, 3);
  ev.data[0].sent = a.size();
  ev.data[2].sent = b.size();
  c.Finish(ev);
  EventBuffers got = c.Get(ev);
  EXPECT_EQ(got[0].kind, BufferData::kComplete);
  EXPECT_EQ(got[0].bytes, a);
  EXPECT_EQ(got[1].kind, BufferData::kInline);
  EXPECT_EQ(got[2].kind, BufferData::kComplete);
  EXPECT_EQ(got[2].bytes, b);
  c.Release(7);
  EXPECT_EQ(c.entries(), 0u);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(DataChunksTest, AMissingChunkLosesTheArgumentOnly) {
  DataChunks c;
  Add(c, Chunk(9, 0, 0, Pattern(100, 0)));
  Add(c, Chunk(9, 0, 200, Pattern(100, 0)));  // [100, 200) never came
  Add(c, Chunk(9, 1, 0, "abc"));
  tgd_policy_event ev = Event(9, 2);
  ev.data[0].sent = 300;
  ev.data[1].sent = 3;
  c.Finish(ev);
  EventBuffers got = c.Get(ev);
  EXPECT_EQ(got[0].kind, BufferData::kLost);
  EXPECT_EQ(got[1].kind, BufferData::kComplete);
  EXPECT_EQ(c.stats().lost, 1u);
}

TEST(DataChunksTest, TheEventDecidesWhatIsComplete) {
  DataChunks c;
  Add(c, Chunk(3, 0, 0, Pattern(500, 0)));
  tgd_policy_event ev = Event(3, 4);
  ev.data[0].sent = 600;                      // 100 bytes never arrived
  ev.data[1].flags = TGD_DATAF_LOST;          // the ring buffer was full
  ev.data[2].flags = TGD_DATAF_PAGEFAULT;     // a read faulted
  ev.data[3].sent = 10;                       // no chunk at all
  c.Finish(ev);
  EventBuffers got = c.Get(ev);
  EXPECT_EQ(got[0].kind, BufferData::kLost);
  EXPECT_EQ(got[1].kind, BufferData::kLost);
  EXPECT_EQ(got[2].kind, BufferData::kPageFault);
  EXPECT_EQ(got[3].kind, BufferData::kLost);
  c.Release(3);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(DataChunksTest, MalformedRecordsAreIgnored) {
  DataChunks c;
  std::vector<char> shortrec(10, 0);
  Add(c, shortrec);
  std::vector<char> bad_arg = Chunk(1, TGD_MAX_ARGS, 0, "x");
  Add(c, bad_arg);
  std::vector<char> lying = Chunk(1, 0, 0, "xyz");
  lying.resize(lying.size() - 2);  // says 3 bytes, carries 1
  Add(c, lying);
  std::vector<char> zero_id = Chunk(0, 0, 0, "x");
  Add(c, zero_id);
  EXPECT_EQ(c.stats().malformed, 4u);
  EXPECT_EQ(c.entries(), 0u);
}

TEST(DataChunksTest, ABufferNeverGrowsPastTheMaximum) {
  DataChunks c;
  const std::string chunk = Pattern(TGD_DATA_CHUNK, 0);
  for (uint32_t i = 0; i < TGD_DATA_CHUNKS + 5; ++i) Add(c, Chunk(5, 0, i * TGD_DATA_CHUNK, chunk));
  EXPECT_LE(c.bytes(), static_cast<size_t>(TGD_DATA_MAX));
  tgd_policy_event ev = Event(5, 1);
  ev.data[0].sent = TGD_DATA_MAX;
  c.Finish(ev);
  EXPECT_EQ(c.Get(ev)[0].kind, BufferData::kLost);
}

TEST(DataChunksTest, EntriesAndBytesStayBoundedWhenEventsNeverCome) {
  DataChunks c(DataChunks::Limits{.max_bytes = 1 << 20, .max_entries = 16});
  const std::string chunk = Pattern(TGD_DATA_CHUNK, 0);
  for (uint64_t id = 1; id <= 10000; ++id) {
    Add(c, Chunk(id, 0, 0, chunk));
    ASSERT_LE(c.entries(), 16u);
    ASSERT_LE(c.bytes(), 1u << 20);
  }
  EXPECT_GT(c.stats().evicted, 9000u);
  // Late chunks and the event of an evicted id: its argument is lost, not
  // half a buffer.
  Add(c, Chunk(1, 0, TGD_DATA_CHUNK, chunk));
  tgd_policy_event ev = Event(1, 1);
  ev.data[0].sent = 2 * TGD_DATA_CHUNK;
  c.Finish(ev);
  EXPECT_EQ(c.Get(ev)[0].kind, BufferData::kLost);
  // Finished events that are never released are evicted too.
  for (uint64_t id = 20000; id < 20100; ++id) c.Finish(Event(id, 1));
  EXPECT_LE(c.entries(), 16u);
}

TEST(DataChunksTest, AChunkAfterItsEventIsIgnored) {
  DataChunks c;
  Add(c, Chunk(4, 0, 0, "abcd"));
  tgd_policy_event ev = Event(4, 1);
  ev.data[0].sent = 4;
  c.Finish(ev);
  Add(c, Chunk(4, 0, 4, "efgh"));
  EXPECT_EQ(c.Get(ev)[0].bytes, "abcd");
  c.Release(4);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(DataChunksTest, EventsWithoutDataKeepNothing) {
  DataChunks c;
  tgd_policy_event ev = Event(0, 5);
  c.Finish(ev);
  EXPECT_EQ(c.entries(), 0u);
  for (const BufferData& b : c.Get(ev)) EXPECT_EQ(b.kind, BufferData::kInline);
}

}  // namespace
}  // namespace tgd
