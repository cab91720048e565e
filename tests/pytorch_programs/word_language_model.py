# The official PyTorch example word_language_model (model.py's TransformerModel, which subclasses
# nn.Transformer, PositionalEncoding and RNNModel with tied weights; main.py's truncated-BPTT loop
# with clip_grad_norm_ and manual SGD on p.data), as written for PyTorch: only the import differs.
import math
import os
import sys
import ember as torch
import ember.nn as nn
import ember.nn.functional as F

class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super(PositionalEncoding, self).__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer('pe', pe)

    def forward(self, x):
        x = x + self.pe[:x.size(0), :]
        return self.dropout(x)

class TransformerModel(nn.Transformer):
    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super(TransformerModel, self).__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid, num_encoder_layers=nlayers)
        self.model_type = 'Transformer'
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)
        self.init_weights()

    def _generate_square_subsequent_mask(self, sz):
        return torch.log(torch.tril(torch.ones(sz,sz)))

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, src, has_mask=True):
        if has_mask:
            device = src.device
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                mask = self._generate_square_subsequent_mask(len(src)).to(device)
                self.src_mask = mask
        else:
            self.src_mask = None
        src = self.input_emb(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.encoder(src, mask=self.src_mask)
        output = self.decoder(output)
        return F.log_softmax(output, dim=-1)

class RNNModel(nn.Module):
    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super(RNNModel, self).__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == 'LSTM':
            return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                    weight.new_zeros(self.nlayers, bsz, self.nhid))
        else:
            return weight.new_zeros(self.nlayers, bsz, self.nhid)

def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    else:
        return tuple(repackage_hidden(v) for v in h)

torch.manual_seed(1111)
ntokens, bptt, bsz = 50, 12, 4
data = torch.randint(0, ntokens, (400,)).view(-1, bsz).t().contiguous().t()  # [seq, batch]
criterion = nn.NLLLoss()
for model in (TransformerModel(ntokens, 32, 2, 64, 2, 0.2), RNNModel('LSTM', ntokens, 32, 32, 2, 0.2, tie_weights=True)):
    lr = 5.0 if isinstance(model, RNNModel) else 0.5
    model.train()
    hidden = model.init_hidden(bsz) if isinstance(model, RNNModel) else None
    losses = []
    for epoch in range(3):
        for batch, i in enumerate(range(0, data.size(0) - 1, bptt)):
            seq_len = min(bptt, len(data) - 1 - i)
            inp, targets = data[i:i+seq_len], data[i+1:i+1+seq_len].reshape(-1)
            model.zero_grad()
            if isinstance(model, TransformerModel):
                output = model(inp).view(-1, ntokens)
            else:
                hidden = repackage_hidden(hidden)
                output, hidden = model(inp, hidden)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            losses.append(loss.item())
    print(type(model).__name__, 'loss', round(losses[0], 3), '->', round(losses[-1], 3), 'ppl', round(math.exp(losses[-1]), 2))
    assert losses[-1] < losses[0], losses
    with open(os.path.join(sys.argv[1], 'model.pt'), 'wb') as f:
        torch.save(model.state_dict(), f)
    with open(os.path.join(sys.argv[1], 'model.pt'), 'rb') as f:
        model.load_state_dict(torch.load(f))

print('OK')
