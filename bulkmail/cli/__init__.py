"""The command line: a thin front-end over the library (options, one library call, telling the result)."""
