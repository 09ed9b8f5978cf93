// Ports for tests that must know them before a broker starts (a quorum's voter list names every
// voter's address): the launcher's helpers, shared with the benchmarks.

export { freePorts, quorumVoters } from '../../broker/local/launcher.js'
