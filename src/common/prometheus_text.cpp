// The Prometheus text exposition format 0.0.4.
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "flashsale/metrics.hpp"

namespace flashsale {

namespace {

// HELP text escapes backslash and newline; label values also the double quote.
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

std::string number(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  return fmt::format("{}", value);
}

void append_labels(std::string& out, const MetricLabels& labels, const std::string* le) {
  if (labels.empty() && le == nullptr) {
    return;
  }
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) {
      out += ',';
    }
    first = false;
    out += name;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  }
  if (le != nullptr) {
    if (!first) {
      out += ',';
    }
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

void append_line(std::string& out, std::string_view name, const MetricLabels& labels,
                 const std::string* le, const std::string& value) {
  out += name;
  append_labels(out, labels, le);
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

std::string render_prometheus(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const auto& family : families) {
    out += "# HELP ";
    out += family.name;
    out += ' ';
    append_escaped(out, family.help, false);
    out += "\n# TYPE ";
    out += family.name;
    out += ' ';
    out += metric_type_name(family.type);
    out += '\n';
    for (const auto& sample : family.samples) {
      if (family.type != MetricType::Histogram) {
        append_line(out, family.name, sample.labels, nullptr, number(sample.value));
        continue;
      }
      const HistogramData& histogram = sample.histogram;
      const std::string bucket = family.name + "_bucket";
      for (std::size_t index = 0; index < histogram.upper_bounds.size(); ++index) {
        const std::string le = number(histogram.upper_bounds[index]);
        append_line(out, bucket, sample.labels, &le,
                    std::to_string(histogram.cumulative_counts[index]));
      }
      const std::string infinity = "+Inf";
      append_line(out, bucket, sample.labels, &infinity, std::to_string(histogram.count));
      append_line(out, family.name + "_sum", sample.labels, nullptr, number(histogram.sum));
      append_line(out, family.name + "_count", sample.labels, nullptr,
                  std::to_string(histogram.count));
    }
  }
  return out;
}

std::string render_prometheus(MetricsRegistry& registry) {
  return render_prometheus(registry.collect());
}

}  // namespace flashsale
