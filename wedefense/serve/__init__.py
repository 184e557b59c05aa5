"""``wedefense serve``: a local HTTP server and page that score one recording with a bundle
(:mod:`.scoring` turns uploaded bytes into the answer, :mod:`.app` serves it)."""
