# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Inference speed of the denoisers on 128x128 images.

Measures milliseconds per image for Learnlet, UNet64 and SUNet (randomly
initialised, published configurations) on the CPU with a batch of 32
images under ``torch.inference_mode``, and on a GPU when one is present
(float32 and mixed precision).

Run::

    python benchmarks/bench_denoisers.py [--batch 32] [--repeat 3]
        [--threads 2] [-o benchmarks/results/bench_denoisers.json]

Goals: Learnlet <= 15 ms per image and SUNet <= 400 ms per image on 2 CPU
cores; SUNet <= 5 ms per image batched on a GPU.
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from astrodeconv import __version__
from astrodeconv.evaluation import write_report
from astrodeconv.denoisers import (Learnlet, SUNet, UNet64,
                                   count_parameters)

GOALS_MS = {'cpu': {'Learnlet': 15.0, 'SUNet': 400.0},
            'cuda': {'SUNet': 5.0}}


def time_model(model, device, batch, repeat, *, amp=False):
    """Best-of-``repeat`` milliseconds per image for one batch."""
    x = torch.randn(batch, 1, 128, 128, device=device)
    sigma = torch.full((batch,), 0.01, device=device)
    model = model.to(device).eval()

    def run():
        with torch.inference_mode(), torch.autocast(
                device.type, enabled=amp, dtype=torch.float16):
            model(x, sigma)
        if device.type == 'cuda':
            torch.cuda.synchronize()

    run()                                     # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * min(times) / batch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--models', nargs='+',
                        default=['Learnlet', 'UNet64', 'SUNet'])
    parser.add_argument('-o', '--output', default=str(
        Path(__file__).parent / 'results' / 'bench_denoisers.json'))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    factories = {'Learnlet': Learnlet, 'UNet64': UNet64, 'SUNet': SUNet}
    results = {'benchmark': 'bench_denoisers',
               'astrodeconv_version': __version__,
               'torch_version': torch.__version__,
               'machine': platform.machine(), 'cpu_threads': args.threads,
               'batch': args.batch, 'image_shape': [128, 128],
               'goals_ms_per_image': GOALS_MS, 'models': {}}
    devices = [torch.device('cpu')]
    if torch.cuda.is_available():
        devices.append(torch.device('cuda'))
        results['gpu'] = torch.cuda.get_device_name(0)
    for name in args.models:
        torch.manual_seed(0)
        model = factories[name]()
        entry = {'num_params': count_parameters(model)}
        for device in devices:
            entry[f'{device.type}_ms_per_image'] = time_model(
                model, device, args.batch, args.repeat)
            if device.type == 'cuda':
                entry['cuda_amp_ms_per_image'] = time_model(
                    model, device, args.batch, args.repeat, amp=True)
            goal = GOALS_MS.get(device.type, {}).get(name)
            if goal is not None:
                entry[f'{device.type}_goal_met'] = bool(
                    entry[f'{device.type}_ms_per_image'] <= goal)
        results['models'][name] = entry
        print(name, json.dumps(entry))
    write_report(args.output, results, overwrite=True)
    return results


if __name__ == '__main__':
    main()
