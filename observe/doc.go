// Package observe is the instrument of imh's invisibility: it records what
// an observer of the netDB sees of one destination (every LeaseSet2 a
// floodfill stored, in store order) and compares such histories, so that
// "an imh destination looks like one router's" is a measured claim rather
// than a hope. Histories are plain JSON files, so runs of the simulated
// network and captures from real floodfills can be compared alike. Inspect
// is the observer's view of a single LeaseSet (`imh leaseset inspect`).
package observe
