"""Does a refactoring change what `train` learns? Short runs of the shipped recipes, fingerprinted bit for bit.

    python tools/check_bit_identity.py --write ref.json    # with the code before the change
    python tools/check_bit_identity.py --against ref.json  # after it: exit 1 if any weight or figure differs

Each run trains `RECIPES[name]` for 2 epochs on 2,000 training images (500 held out, 1,000 test), on the CPU, and
records the SHA-256 of every tensor of the final state_dict and the history's losses and error rates, exactly.
"""
import argparse, hashlib, json, sys
import torch

def fingerprint(name:str) -> dict:
    from fmnist_cnn.training import RECIPES, train
    model, hist = train(RECIPES[name], device='cpu', progress=False, n_train=2000, n_test=1000, epochs=2,
                        data=dict(valid=500))
    sd = model.state_dict()
    return dict(weights={k: hashlib.sha256(v.detach().cpu().contiguous().numpy().tobytes()).hexdigest() for k, v in sd.items()},
                history=[{k: h[k] for k in ('train_loss', 'train_err', 'valid_loss', 'valid_err', 'test_loss', 'test_err')}
                         for h in hist])

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--write', help='write the fingerprints to this file'); ap.add_argument('--against', help='compare with this file')
    ap.add_argument('--recipes', default='original,modern')
    a = ap.parse_args()
    torch.set_num_threads(1)                       # one thread: the same reduction order in every run
    got = {n: fingerprint(n) for n in a.recipes.split(',')}
    if a.write: json.dump(got, open(a.write, 'w'), indent=1); print(f'fingerprints of {list(got)} written to {a.write}')
    if a.against:
        ref, bad = json.load(open(a.against)), []
        for n, g in got.items():
            diff = [k for k in ref[n]['weights'] if ref[n]['weights'][k] != g['weights'].get(k)]
            if diff or ref[n]['history'] != g['history']: bad.append(f"{n}: {len(diff)} tensors differ, history {'same' if ref[n]['history'] == g['history'] else 'differs'}")
            else: print(f"{n}: bit-identical ({len(g['weights'])} tensors, {len(g['history'])} epochs)")
        if bad: sys.exit('NOT bit-identical: ' + '; '.join(bad))

if __name__ == '__main__': main()
