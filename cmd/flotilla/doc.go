// Command flotilla is the one binary of Flotilla: server, agent, CLI, lab
// launcher and demo workload. Each command parses flags, builds a config and
// calls Run(ctx) on the package that does the work.
package main
