// A host program that links flashsale the way a user would. It proves the
// headers, the library and the embedded scripts arrived intact and, given a
// redis-server's unix socket, that calls go through the library into the
// hiredis it links: it issues a coupon there (EVALSHA of a bundled script).
#include <chrono>
#include <cstdio>
#include <cstring>

#include <flashsale/flashsale.hpp>

namespace {

int issue_one_coupon(const char* socket) {
  flashsale::ConnectionOptions connection;
  connection.unix_socket = socket;
  flashsale::StandaloneClient redis(connection);
  flashsale::FirstComeCouponIssuer coupons(redis);
  const auto now = std::chrono::system_clock::now();
  coupons.register_template({"packaging", 2, now, now + std::chrono::hours(1)});
  const flashsale::IssueResult result = coupons.issue("packaging", "user-1");
  if (result.status != flashsale::IssueStatus::Issued || result.sequence != 1 ||
      result.remaining != 1) {
    std::fprintf(stderr, "issue returned status %d, sequence %lld, remaining %lld\n",
                 static_cast<int>(result.status), static_cast<long long>(result.sequence),
                 static_cast<long long>(result.remaining));
    return 1;
  }
  std::printf("issued coupon #1 through %s, 1 left\n", socket);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const flashsale::KeySpace keys("shop");
  const std::string key = keys.key("coupon", "launch", "stock");
  if (key != "shop:coupon:{launch}:stock") {
    std::fprintf(stderr, "unexpected key %s\n", key.c_str());
    return 1;
  }
  if (std::strcmp(flashsale::version_string(), FLASHSALE_EXPECTED_VERSION) != 0) {
    std::fprintf(stderr, "version %s, expected %s\n", flashsale::version_string(),
                 FLASHSALE_EXPECTED_VERSION);
    return 1;
  }
  const auto& script = flashsale::bundled_script("issue_coupon");
  std::printf("flashsale %s, %zu bundled scripts, %s = %.*s\n", flashsale::version_string(),
              flashsale::bundled_scripts().size(), key.c_str(),
              static_cast<int>(script.sha1.size()), script.sha1.data());
  // The Conan test package runs it without a server.
  return argc > 1 ? issue_one_coupon(argv[1]) : 0;
}
