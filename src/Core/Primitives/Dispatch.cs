using System.Numerics;
using Mlx.Kernels;

namespace Mlx;

/// <summary>Calls a generic kernel with the CLR type of a dtype: one switch here instead of one per op.</summary>
internal interface IFloatVisitor
{
    void Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T>;
}

internal interface IIntVisitor
{
    void Visit<T>() where T : unmanaged, IBinaryInteger<T>, IMinMaxValue<T>;
}

internal static class Dispatch
{
    public static bool IsComputeFloat(DType t) => t is DType.Float32 or DType.Float64;

    public static void Float<TV>(DType t, ref TV v) where TV : struct, IFloatVisitor
    {
        switch (t)
        {
            case DType.Float32: v.Visit<float>(); break;
            case DType.Float64: v.Visit<double>(); break;
            default: throw new NotSupportedException($"No float kernel for {t.Name()}.");
        }
    }

    public static void Int<TV>(DType t, ref TV v) where TV : struct, IIntVisitor
    {
        switch (t)
        {
            case DType.Bool or DType.UInt8: v.Visit<byte>(); break;
            case DType.UInt16: v.Visit<ushort>(); break;
            case DType.UInt32: v.Visit<uint>(); break;
            case DType.UInt64: v.Visit<ulong>(); break;
            case DType.Int8: v.Visit<sbyte>(); break;
            case DType.Int16: v.Visit<short>(); break;
            case DType.Int32: v.Visit<int>(); break;
            case DType.Int64: v.Visit<long>(); break;
            default: throw new NotSupportedException($"No integer kernel for {t.Name()}.");
        }
    }

    /// <summary>A float32 kernel over one tile: input pointers, their strides (1, or 0 for a scalar), the output, the length.</summary>
    public unsafe delegate void Float32Tile(float*[] inputs, long[] strides, void* output, int length);

    // 4096 float32s per operand: an add's two inputs and result (48 KB) stay in L1/L2 between widening, computing
    // and narrowing; larger tiles measured slower, smaller ones pay the per-tile calls.
    private const int TileElements = 4096;

    /// <summary>
    /// An elementwise op over float16/bfloat16 inputs that are row-contiguous at the output's shape or broadcast
    /// scalars, into a row-contiguous float16/bfloat16 (or bool) output: each tile of the inputs is widened into
    /// float32 scratch that stays in cache, <paramref name="tile"/> computes it, and the result is narrowed into the
    /// output (a bool output is written in place). No whole-array float32 copies: memory traffic is that of the
    /// 16-bit arrays. An input given twice (x + x) is widened once. False (nothing done) for other layouts.
    /// </summary>
    /// <param name="expandScalars">Give scalar inputs as whole tiles (stride 1) to kernels that read every element.</param>
    public static unsafe bool TryTiledViaFloat32(MxArray[] inputs, MxArray o, Float32Tile tile, bool expandScalars = false)
    {
        int count = inputs.Length;
        var strides = new long[count];
        for (int k = 0; k < count; k++)
        {
            var x = inputs[k];
            if (x.DType is not (DType.Float16 or DType.BFloat16) || DirectStride(x, o) is not long stride) return false;
            strides[k] = stride;
        }
        var tileStrides = expandScalars ? strides.Select(_ => 1L).ToArray() : strides;
        bool narrow = o.DType is DType.Float16 or DType.BFloat16;
        if (!narrow && o.DType != DType.Bool) return false;
        o.AllocateData();
        long n = o.Size;
        if (n == 0) return true;
        var bases = inputs.Select(x => (nint)x.RawPtr).ToArray();
        // An input that repeats an earlier one (same memory, same layout) shares its widened tile.
        var sameAs = new int[count];
        for (int k = 0; k < count; k++)
        {
            sameAs[k] = k;
            for (int j = 0; j < k; j++)
            {
                if (bases[j] == bases[k] && strides[j] == strides[k] && inputs[j].DType == inputs[k].DType) { sameAs[k] = j; break; }
            }
        }
        var bfloat = inputs.Select(x => x.DType == DType.BFloat16).ToArray();
        long tiles = (n + TileElements - 1) / TileElements;
        nint outBase = (nint)o.RawPtr;
        bool outBFloat = o.DType == DType.BFloat16;
        Parallelism.For(tiles, TileElements * 8, (s, e) =>
        {
            float* scratch = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)((count + 1) * TileElements * sizeof(float)), 64);
            try
            {
                var ptrs = new float*[count];
                for (int k = 0; k < count; k++) ptrs[k] = scratch + sameAs[k] * TileElements;
                for (long t = s; t < e; t++)
                {
                    long start = t * TileElements;
                    int len = (int)Math.Min(TileElements, n - start);
                    for (int k = 0; k < count; k++)
                    {
                        if (sameAs[k] != k) continue;
                        var from = (ushort*)bases[k] + (strides[k] == 0 ? 0 : start);
                        int m = strides[k] == 0 ? 1 : len;
                        if (bfloat[k]) Conversions.BFloat16ToSingle(from, ptrs[k], m, parallel: false);
                        else Conversions.HalfToSingle((Half*)from, ptrs[k], m, parallel: false);
                        if (strides[k] == 0 && expandScalars) new Span<float>(ptrs[k], len).Fill(*ptrs[k]);
                    }
                    if (narrow)
                    {
                        float* result = scratch + count * TileElements;
                        tile(ptrs, tileStrides, result, len);
                        var to = (ushort*)outBase + start;
                        if (outBFloat) Conversions.SingleToBFloat16(result, to, len, parallel: false);
                        else Conversions.SingleToHalf(result, (Half*)to, len, parallel: false);
                    }
                    else
                    {
                        tile(ptrs, tileStrides, (bool*)outBase + start, len);
                    }
                }
            }
            finally
            {
                System.Runtime.InteropServices.NativeMemory.AlignedFree(scratch);
            }
        });
        return true;
    }

    /// <summary>
    /// How an elementwise kernel can read operand <paramref name="x"/> of output <paramref name="o"/> straight from
    /// memory: 1 if it is the output's shape row-contiguous, 0 if it is one broadcast value, null otherwise.
    /// </summary>
    public static long? DirectStride(MxArray x, MxArray o) =>
        x.Size == o.Size && x.IsRowContiguous ? 1 : x.Size > 0 && x.Strides.All(st => st == 0) ? 0 : null;

    /// <summary>
    /// Float16 and BFloat16 compute in float32: converts the inputs to float32 arrays, runs <paramref name="compute"/>
    /// on them into float32 outputs, and converts those back into <paramref name="outputs"/>.
    /// </summary>
    public static void ViaFloat32(MxArray[] inputs, MxArray[] outputs, Action<MxArray[], MxArray[]> compute)
    {
        var wideIn = inputs.Select(x => x.DType is DType.Float16 or DType.BFloat16 ? Cast.MaterializeKeepingLayout(x, DType.Float32) : x).ToArray();
        var wideOut = outputs.Select(o => o.DType is DType.Float16 or DType.BFloat16
            ? new MxArray(o.ShapeRef, DType.Float32, Allocator.Allocate(o.Size * 4), MxArray.RowMajorStrides(o.ShapeRef), 0)
            : o).ToArray();
        compute(wideIn, wideOut);
        for (int i = 0; i < outputs.Length; i++)
        {
            if (!ReferenceEquals(wideOut[i], outputs[i]))
            {
                outputs[i].AllocateData();
                Cast.Run(wideOut[i], outputs[i]);
                wideOut[i].Buffer.Release();
            }
        }
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!ReferenceEquals(wideIn[i], inputs[i]))
            {
                wideIn[i].Buffer.Release();
            }
        }
    }
}
