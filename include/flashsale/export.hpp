// FLASHSALE_EXPORT marks what the library exports. A shared libflashsale is
// built with hidden visibility (-fvisibility=hidden): only the public classes
// and functions marked here are in its dynamic symbol table; everything else
// stays internal and may change between builds. In a static library the mark
// changes nothing.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define FLASHSALE_EXPORT __attribute__((visibility("default")))
#else
#define FLASHSALE_EXPORT
#endif
