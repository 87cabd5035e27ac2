"""The local development stack: Apache Kafka (KRaft) and Redis on loopback."""
