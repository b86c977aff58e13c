// Registry rendering.
#include "sensor/metrics/registry.h"

#include "absl/strings/str_cat.h"

namespace tgd::metrics {
namespace {

// Replaces characters Prometheus does not allow in a metric (colon = true)
// or label name with '_'.
std::string SanitizeName(std::string s, bool colon) {
  if (s.empty()) s = "_";
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) s[i] = '_';
  }
  return s;
}

std::vector<std::string> SanitizeLabels(std::vector<std::string> labels) {
  for (auto& l : labels) l = SanitizeName(std::move(l), false);
  return labels;
}

std::string EscapeHelp(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void AppendLabels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                  std::string* out) {
  if (names.empty()) return;
  out->push_back('{');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out->push_back(',');
    absl::StrAppend(out, names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  out->push_back('}');
}

template <typename F>
void RenderFamily(const F& f, const char* type, std::string* out) {
  absl::StrAppend(out, "# HELP ", f.name(), " ", EscapeHelp(f.help()), "\n# TYPE ", f.name(), " ", type,
                  "\n");
  bool any = false;
  f.ForEach([&](const std::vector<std::string>& values, const auto& child) {
    any = true;
    out->append(f.name());
    AppendLabels(f.labels(), values, out);
    absl::StrAppend(out, " ", child.value(), "\n");
  });
  if (!any && f.labels().empty()) absl::StrAppend(out, f.name(), " 0\n");
}

}  // namespace

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

CounterFamily* Registry::AddCounter(std::string name, std::string help, std::vector<std::string> labels) {
  absl::MutexLock lock(&mu_);
  families_.push_back(Entry{std::make_unique<CounterFamily>(SanitizeName(std::move(name), true),
                                                            std::move(help), SanitizeLabels(std::move(labels))),
                            nullptr});
  return families_.back().counter.get();
}

GaugeFamily* Registry::AddGauge(std::string name, std::string help, std::vector<std::string> labels) {
  absl::MutexLock lock(&mu_);
  families_.push_back(Entry{nullptr, std::make_unique<GaugeFamily>(SanitizeName(std::move(name), true),
                                                                   std::move(help),
                                                                   SanitizeLabels(std::move(labels)))});
  return families_.back().gauge.get();
}

void Registry::AddCollector(std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(fn));
}

std::string Registry::Render() {
  absl::MutexLock render_lock(&render_mu_);
  std::vector<std::function<void()>> collectors;
  {
    absl::MutexLock lock(&mu_);
    collectors = collectors_;
  }
  for (auto& c : collectors) c();
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const Entry& e : families_) {
    if (e.counter) RenderFamily(*e.counter, "counter", &out);
    if (e.gauge) RenderFamily(*e.gauge, "gauge", &out);
  }
  return out;
}

}  // namespace tgd::metrics
