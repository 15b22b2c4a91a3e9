"""Planning prefetch work, with no Django and no I/O: the arithmetic of plans, the checks of URL
lists, and wall-clock times in named zones. The dashboard's forms and views build on these."""
