/*
 * stats_idle.c: a program that allocates a little and then sits idle, for what `zm stats`
 * shows of an idle process.
 *
 * Usage: stats_idle THREADS   (1: the main thread only; 2: one more thread)
 *
 * Every thread makes and frees one small block (so each has a zone, and nothing big is
 * cached), then the process prints "ready pid=N" and sleeps until it is killed. With a
 * second thread the library's background thread runs and keeps the stats page fresh;
 * with one, the page keeps the snapshot of the last refresh.
 */
#include "common.h"
#include <pthread.h>
#include <unistd.h>

static void touch(void) {
  volatile char *p = malloc(48);
  if (!p) ZT_FAIL("malloc(48) returned NULL");
  p[0] = 1;
  free((void *)p);
}

static void *idle_thread(void *argument) {
  (void)argument;
  touch();
  for (;;) pause();
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  touch();
  if (threads > 1) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, idle_thread, NULL) != 0) ZT_FAIL("pthread_create failed");
  }
  usleep(100000);
  printf("ready pid=%d\n", (int)getpid());
  fflush(stdout);
  for (;;) pause();
}
