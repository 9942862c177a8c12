#include "utf8.h"

#include <string.h>

#define HIGH_BITS 0x8080808080808080ull

bool sio_utf8_feed(struct sio_utf8 *u, const void *buf, size_t len)
{
	const uint8_t *p = buf, *end = p + len;
	uint8_t need = u->need, lo = u->lo, hi = u->hi;

	while (p < end) {
		if (need == 0) {
			/* JSON is mostly ASCII: eight bytes a test while it is. */
			while (end - p >= 8) {
				uint64_t v;
				memcpy(&v, p, 8);
				if (v & HIGH_BITS)
					break;
				p += 8;
			}
			if (p == end)
				break;
			uint8_t b = *p++;
			if (b < 0x80)
				continue;
			/* The lead byte tells the length, and for some leads a
			 * narrower first continuation: that is what rules out
			 * overlong forms (E0, F0), surrogates (ED) and code
			 * points past U+10FFFF (F4). C0, C1 and F5-FF never lead. */
			lo = 0x80;
			hi = 0xbf;
			if (b >= 0xc2 && b <= 0xdf) {
				need = 1;
			} else if (b >= 0xe0 && b <= 0xef) {
				need = 2;
				if (b == 0xe0)
					lo = 0xa0;
				else if (b == 0xed)
					hi = 0x9f;
			} else if (b >= 0xf0 && b <= 0xf4) {
				need = 3;
				if (b == 0xf0)
					lo = 0x90;
				else if (b == 0xf4)
					hi = 0x8f;
			} else {
				return false;
			}
			continue;
		}
		uint8_t b = *p++;
		if (b < lo || b > hi)
			return false;
		lo = 0x80;
		hi = 0xbf;
		need--;
	}
	u->need = need;
	u->lo = lo;
	u->hi = hi;
	return true;
}

bool sio_utf8_valid(const void *buf, size_t len)
{
	struct sio_utf8 u = { 0 };

	return sio_utf8_feed(&u, buf, len) && sio_utf8_complete(&u);
}
