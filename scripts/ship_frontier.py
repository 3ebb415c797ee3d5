"""Choose the frontier's shipped models on the validation split and copy their weights into the package.

Reads the candidates' records (the study `frontier`: `results/frontier.jsonl`, written by `scripts/run.py frontier`; the
weights of each run in `--runs`, one folder NAME-sSEED per run):
- tiny (at most 25,000 parameters) and small (at most 100,000): the candidate with the highest mean validation
  accuracy over its seeds, then its seed with the highest validation accuracy;
- best (at most 1M): the single long run with the highest validation accuracy.
Test accuracy plays no part in the choice. Each goes to `fmnist_cnn/weights/NAME.pt` with its run's metadata plus
`choice` (every candidate's validation mean, and the chosen recipe's seeds with validation and test accuracy),
`train_tflop` and the device. Usage: python scripts/ship_frontier.py --runs runs/gpu/w [--dry-run]
"""
import argparse, json, shutil, statistics
from pathlib import Path

LIMITS = dict(tiny=25_000, small=100_000, best=1_000_000)

def choose(recs:list, kind:str) -> tuple:
    "The record chosen on validation among the candidates of `kind`, and a summary of the choice."
    from fmnist_cnn.book.records import acc, by_seed
    from fmnist_cnn.model import build_model, n_params
    params = lambda r: n_params(build_model(r['recipe']['model']))
    names = dict.fromkeys(r['variant'] for r in recs if r['variant'].startswith(kind + '-'))
    cands = {n: list(by_seed(recs, n).values()) for n in names}
    cands = {n: rs for n, rs in cands.items() if params(rs[0]) <= LIMITS[kind]}
    if kind != 'best': cands = {n: rs for n, rs in cands.items() if len(rs) >= 3}          # 3 seeds to be a candidate
    if not cands: raise SystemExit(f'no complete {kind} candidate in the records')
    va, te = (lambda r: round(acc(r), 4)), (lambda r: round(acc(r, 'test'), 4))   # 10,000 images: 4 decimals
    mean = {n: statistics.mean(va(r) for r in rs) for n, rs in cands.items()}
    name = max(mean, key=mean.get)
    run = max(cands[name], key=va)
    sd = lambda xs: round(statistics.stdev(xs), 4) if len(xs) > 1 else None
    rule = 'highest mean validation accuracy over the seeds, then the seed with the highest validation accuracy'
    summary = dict(rule=rule,
                   candidates={n: dict(valid_mean=round(m, 4), seeds=len(cands[n]), params=params(cands[n][0]))
                               for n, m in sorted(mean.items())},
                   chosen=name, seed=run['seed'],
                   seeds=[dict(seed=r['seed'], valid_acc=va(r), test_acc=te(r)) for r in cands[name]],
                   test_mean=round(statistics.mean(te(r) for r in cands[name]), 4),
                   test_sd=sd([te(r) for r in cands[name]]))
    return run, summary

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--records', default='frontier', help="the candidates' study (or a .jsonl file)")
    ap.add_argument('--runs', default='runs/gpu/w'); ap.add_argument('--dry-run', action='store_true')
    a = ap.parse_args()
    from fmnist_cnn.book.records import read_records, tflop, acc
    from fmnist_cnn.model import build_model, mflops, n_params
    recs = read_records(a.records)
    if not recs: raise SystemExit(f'no records in {a.records!r}')
    for kind in LIMITS:
        run, summary = choose(recs, kind)
        src = Path(a.runs)/f"{run['variant']}-s{run['seed']}"
        meta = json.loads((src/'model.json').read_text())
        m, mc = build_model(run['recipe']['model']), run['machine']
        meta |= dict(choice=summary, train_tflop=round(tflop(run), 3), mflops=round(mflops(m), 1),
                     device_name=mc['device'],
                     train_time_note=f"{meta['train_time_s']} s on one {mc['device']} shared by {mc['jobs']} runs")
        print(f"{kind}: {run['variant']} seed {run['seed']} ({n_params(m):,} parameters): valid {100*acc(run):.2f}%, "
              f"test {100*acc(run, 'test'):.2f}%; its recipe over {len(summary['seeds'])} seeds: "
              f"test {100*summary['test_mean']:.2f}%"
              + (f" +- {100*summary['test_sd']:.2f}" if summary['test_sd'] else ''))
        if a.dry_run: continue
        dst = Path('fmnist_cnn/weights')/f'{kind}.pt'
        shutil.copyfile(src/'model.pt', dst)
        dst.with_suffix('.json').write_text(json.dumps(meta, indent=1) + '\n')

if __name__ == '__main__': main()
