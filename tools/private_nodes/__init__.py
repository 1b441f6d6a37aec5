"""Private RabbitMQ nodes for the tests and the benchmarks: one node of a test's own, or three
joined into a cluster, each with its own ports and directories, so a fault can be injected
without touching the machine's broker. Development only: not in the package nor the image."""
