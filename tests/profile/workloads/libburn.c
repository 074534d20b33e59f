/* libburn.c - the shared-library half of burn.c: a function that burns CPU inside libburn.so. */
static volatile unsigned long lib_sink;

__attribute__((noinline)) void lib_burn(unsigned long rounds)
{
	for (unsigned long i = 0; i < rounds; i++)
		lib_sink += i;
}
