// A Kafka cluster for the tests: librdkafka's mock cluster (rdkafka_mock.h), as Debian packages
// no Kafka broker.
//
//     mock_cluster BROKERS TOPIC PARTITIONS
//
// Prints its bootstrap servers on one line ("bootstrap HOST:PORT,..."), then reads commands
// on stdin, one a line, answering each with "ok" once done:
//     down ID   broker ID (1..BROKERS) stops answering: its connections are closed, new ones
//               refused (rd_kafka_mock_broker_set_down)
//     up ID     broker ID answers again
//     quit      (or end of input) the cluster stops
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: mock_cluster BROKERS TOPIC PARTITIONS\n");
        return 2;
    }
    const int brokers = std::atoi(argv[1]);
    const int partitions = std::atoi(argv[3]);
    char problem[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    // The cluster lives in a handle of its own; nothing is produced through it.
    if (rd_kafka_conf_set(conf, "log_level", "0", problem, sizeof problem) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "mock_cluster: %s\n", problem);
        return 1;
    }
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, problem, sizeof problem);
    if (rk == nullptr) {
        fprintf(stderr, "mock_cluster: %s\n", problem);
        return 1;
    }
    rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
    if (cluster == nullptr) {
        fprintf(stderr, "mock_cluster: cannot create a cluster of %d brokers\n", brokers);
        return 1;
    }
    const rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(cluster, argv[2], partitions, brokers < 3 ? brokers : 3);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "mock_cluster: topic %s: %s\n", argv[2], rd_kafka_err2str(err));
        return 1;
    }
    printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(cluster));
    fflush(stdout);

    char line[256];
    while (fgets(line, sizeof line, stdin) != nullptr) {
        int id = 0;
        if (sscanf(line, "down %d", &id) == 1) {
            rd_kafka_mock_broker_set_down(cluster, id);
        } else if (sscanf(line, "up %d", &id) == 1) {
            rd_kafka_mock_broker_set_up(cluster, id);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            fprintf(stderr, "mock_cluster: unknown command: %s", line);
            printf("error\n");
            fflush(stdout);
            continue;
        }
        printf("ok\n");
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(rk);
    return 0;
}
