package wasmcheck

// custom reads a custom section: its name and, for the "name" section, the
// subsections wazero decodes.
func (c *checker) custom() error {
	start, err := c.name("section name")
	if err != nil {
		return err
	}
	if string(c.b[start:c.p]) == "name" {
		c.sec = `custom "name"`
		return c.nameSection()
	}
	c.p = c.end // other custom sections are opaque (wazero only keeps DWARF's)
	return nil
}

// nameSection reads the subsections of the "name" custom section. wazero
// decodes the module name (0), function names (1) and local names (2) and
// trusts their sizes: content shorter than its subsection makes it read the
// rest as more subsections, so each must fill its subsection exactly. Other
// subsections (labels, types, globals... from the extended name section
// proposal) wazero skips unread, so only their sizes are checked: the core
// specification never lets a custom section's content invalidate a module,
// and refusing what other engines load would gain nothing.
func (c *checker) nameSection() error {
	sectionEnd := c.end
	for c.p < sectionEnd {
		c.subsection, c.item = "", ""
		start := c.p
		id := c.b[c.p]
		c.p++
		size, err := c.u32("subsection size")
		if err != nil {
			return err
		}
		if left := sectionEnd - c.p; uint64(size) > uint64(left) {
			return c.fail(start, "subsection %d of %d bytes runs past the end of the section (%d bytes remain)", id, size, left)
		}
		c.end, c.region = c.p+int(size), "subsection"
		switch id {
		case 0:
			c.subsection = "module name"
			_, err = c.name("module name")
		case 1:
			c.subsection = "function names"
			err = c.nameMap("function names", MaxNameMapEntries)
		case 2:
			c.subsection = "local names"
			err = c.localNames()
		default:
			c.p = c.end
		}
		if err != nil {
			return err
		}
		if c.p != c.end {
			return c.fail(c.p, "%d bytes left over after the subsection's content", c.end-c.p)
		}
		c.end, c.region = sectionEnd, "section"
	}
	return nil
}

// nameMap reads a name map: (index, name) pairs.
func (c *checker) nameMap(what string, max uint64) error {
	_, err := c.vector(what, "", 2, max, c.nameAssoc) // index, empty name
	return err
}

// nameAssoc reads an entry of a name map.
func (c *checker) nameAssoc() error {
	if _, err := c.u32("index"); err != nil {
		return err
	}
	_, err := c.name("name")
	return err
}

// localNames reads an indirect name map: for each function, its index and a
// name map of its locals.
func (c *checker) localNames() error {
	_, err := c.vector("functions", "function entry", 2, MaxNameMapEntries, c.functionLocalNames) // index, empty map
	return err
}

// functionLocalNames reads a function's index and the names of its locals.
func (c *checker) functionLocalNames() error {
	if _, err := c.u32("function index"); err != nil {
		return err
	}
	return c.nameMap("local names", MaxLocalNames)
}
