//! Turns plans and apply reports into text for people and machines (table, markdown,
//! JSON), always writing to an `impl Write`.
