import sys

sys.stderr = open(snakemake.log[0], "w")

import matplotlib

matplotlib.use("Agg")

from gan.report.figures.figure1a import make_figure1a

out = snakemake.output
written = make_figure1a(snakemake.input.critics, figure_paths=[out.pdf, out.png], table_csv=out.table_csv,
                        table_md=out.table_md, table_html=out.table_html, datasets=snakemake.params.datasets)
print({k: [str(p) for p in v] for k, v in written.items()}, file=sys.stderr)
