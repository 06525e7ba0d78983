/* llama-system-info: prints llama.cpp's CPU feature line (llama_print_system_info(), the line
 * llama-cli prints at start), for bench/run_llama_cpp_compare.sh. Built by
 * bench/build_llama_cpp.sh against the llama.cpp it builds; not part of kvscope. */
#include <stdio.h>

#include "llama.h"

int main(void) {
  llama_backend_init();
  printf("%s\n", llama_print_system_info());
  llama_backend_free();
  return 0;
}
