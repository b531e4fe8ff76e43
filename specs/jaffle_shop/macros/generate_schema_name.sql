{#- Custom schemas are used as written (raw, staging, marts), not prefixed
    with the target schema, so the example's tables have stable names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
