"""The sales-KPI niche: business questions over a sales database, answered with SQL that a small coder model
writes and the database checks.

One concept per module:

* ``northwind``: the shipped Northwind SQLite file, and the builder that makes it from its upstream SQL;
* ``readonly``: a database opened read-only at the driver level, with a time limit and a row cap;
* ``schema_text``: the schema as the model sees it (tables, columns, types, keys, sample values);
* ``schemalink``: the tables a question needs, when a prompt should show only those;
* ``sqlguard``: what may run (one SELECT over known tables and columns, with a LIMIT) and what is refused;
* ``sqlprompt``: the prompt, the repair turn, and the SQL taken out of a model's answer;
* ``fewshot``: the most similar solved questions, retrieved by a static embedding;
* ``sqlpipeline``: small model first, one repair with the database's error, then the large model;
* ``execgrade``: execution accuracy, comparing result sets as the question allows;
* ``questions``: the shipped KPI questions with gold SQL, split train/test by template;
* ``kpitier``: the pipeline served as a model tier (registry backend ``kpi``, tier ``northwind-kpi``).

Nothing here imports sqlglot, llama.cpp or the embedding model until a feature needs it.
"""
