"""Choose the frontier's shipped models on the validation split and copy their weights into the package.

Reads the candidates' records (default `results/experiments_gpu.json`, written by `scripts/experiments.py`; the
weights of each run in `--runs`, e.g. the unpacked `best_weights.tar.gz` of `scripts/gpu_session.sh`):
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
    "(name, seed) chosen on validation among the candidates of `kind`, and a summary of the choice."
    cands = {}
    for r in recs:
        if r['name'].startswith(kind + '-') and r['params'] <= LIMITS[kind]: cands.setdefault(r['name'], []).append(r)
    if kind != 'best': cands = {n: rs for n, rs in cands.items() if len(rs) >= 3}          # 3 seeds to be a candidate
    if not cands: raise SystemExit(f'no complete {kind} candidate in the records')
    mean = {n: statistics.mean(r['valid_acc'] for r in rs) for n, rs in cands.items()}
    name = max(mean, key=mean.get)
    run = max(cands[name], key=lambda r: r['valid_acc'])
    sd = lambda xs: round(statistics.stdev(xs), 4) if len(xs) > 1 else None
    summary = dict(rule='highest mean validation accuracy over the seeds, then the seed with the highest validation accuracy',
                   candidates={n: dict(valid_mean=round(m, 4), seeds=len(cands[n]), params=cands[n][0]['params'])
                               for n, m in sorted(mean.items())},
                   chosen=name, seed=run['seed'],
                   seeds=[dict(seed=r['seed'], valid_acc=r['valid_acc'], test_acc=r['test_acc']) for r in cands[name]],
                   test_mean=round(statistics.mean(r['test_acc'] for r in cands[name]), 4),
                   test_sd=sd([r['test_acc'] for r in cands[name]]))
    return run, summary

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--records', default='results/experiments_gpu.json'); ap.add_argument('--runs', default='runs/gpu/w')
    ap.add_argument('--dry-run', action='store_true')
    a = ap.parse_args()
    recs = json.loads(Path(a.records).read_text())
    for kind in LIMITS:
        run, summary = choose(recs, kind)
        src = Path(a.runs)/f"{run['name']}-s{run['seed']}"
        meta = json.loads((src/'model.json').read_text())
        meta |= dict(choice=summary, train_tflop=run['train_tflop'], mflops=run['mflops'], device_name=run['device'],
                     train_time_note=f"{meta['train_time_s']} s on one {run['device']} shared by {run['concurrent_jobs']} runs")
        print(f"{kind}: {run['name']} seed {run['seed']} ({run['params']:,} parameters): valid {100*run['valid_acc']:.2f}%, "
              f"test {100*run['test_acc']:.2f}%; its recipe over {len(summary['seeds'])} seeds: test {100*summary['test_mean']:.2f}%"
              + (f" +- {100*summary['test_sd']:.2f}" if summary['test_sd'] else ''))
        if a.dry_run: continue
        dst = Path('fmnist_cnn/weights')/f'{kind}.pt'
        shutil.copyfile(src/'model.pt', dst)
        dst.with_suffix('.json').write_text(json.dumps(meta, indent=1) + '\n')

if __name__ == '__main__': main()
