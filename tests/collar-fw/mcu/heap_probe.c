/* Must NOT link: a collar image that calls malloc. build_image.cmake links it with the board's linker script
 * (with and without newlib's nosys _sbrk) and requires the link to fail naming the heap. */
#include <stdlib.h>

void *volatile heap_probe;

static void probe_reset(void)
{
	heap_probe = malloc(16);
	for (;;) {
	}
}

__attribute__((section(".isr_vector"), used)) static void (*const probe_vectors[2])(void) = {0, probe_reset};
