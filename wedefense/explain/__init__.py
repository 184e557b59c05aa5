"""Look inside a detector: relevance maps over time and frequency (:mod:`.relevance`), how much
of it falls on spoofed or spoken stretches (:mod:`.relevance_summary`), their pictures
(:mod:`.relevance_figures`) and 2-D maps of utterance embeddings (:mod:`.embedding_map`)."""
