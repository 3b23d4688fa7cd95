// A host program that links flashsale the way a user would; it needs no
// server, and proves headers, library and embedded scripts arrived intact.
#include <cstdio>
#include <cstring>

#include <flashsale/flashsale.hpp>

int main() {
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
  return 0;
}
