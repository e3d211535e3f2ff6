{#-
    Regular expressions. `pattern` and `replacement` are regex texts given in Jinja (not SQL literals),
    written in the subset Postgres (ARE) and Java agree on: classes [0-9], \d, \s, anchors ^ $, groups,
    ? * + {m,n}. Not POSIX classes ([[:digit:]]), not lookbehind. One difference stays: Java's `$` also
    matches before a final newline ('abc\n' matches ^abc$ on Spark, not on Postgres): trim first.
-#}

{#- True when `expression` contains a match of `pattern` (anchor it with ^...$ for a whole match). -#}
{% macro regex_matches(expression, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'insiders')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regex_matches(expression, pattern) -%}
    ({{ expression }} ~ {{ insiders.sql_text_literal(pattern) }})
{%- endmacro %}

{% macro spark__regex_matches(expression, pattern) -%}
    ({{ expression }} rlike {{ insiders.sql_text_literal(pattern) }})
{%- endmacro %}

{#-
    `expression` with every match of `pattern` replaced. The replacement uses Postgres back-references
    (\1 .. \9); Spark's Java regex wants $1, so they are translated there and a literal $ is escaped.
    Every match, on both: Postgres gets the 'g' flag (Spark has no first-match-only form). For an
    anchored pattern (^...$) that is the same result as Postgres's default first-match replace.
-#}
{% macro regex_replace(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace', 'insiders')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regex_replace(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, {{ insiders.sql_text_literal(pattern) }}, {{ insiders.sql_text_literal(replacement) }}, 'g')
{%- endmacro %}

{% macro spark__regex_replace(expression, pattern, replacement) -%}
    {%- set java = namespace(replacement=replacement | replace("$", "\\$")) -%}
    {%- for group in range(10) -%}
        {%- set java.replacement = java.replacement | replace("\\" ~ group, "$" ~ group) -%}
    {%- endfor -%}
    regexp_replace({{ expression }}, {{ insiders.sql_text_literal(pattern) }}, {{ insiders.sql_text_literal(java.replacement) }})
{%- endmacro %}
