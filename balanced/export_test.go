package balanced

// OpenFetchGens reports how many sarama clients c fetches through (tests).
func OpenFetchGens(c *Consumer) int {
	if c.fetch == nil {
		return 0
	}
	return c.fetch.openGens()
}
