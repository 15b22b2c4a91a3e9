"""The alerts' business rules: receivers (services.receivers), deliveries (services.deliveries),
what a firing or resolved alert does (services.holds) and the resume after a quiet period."""
