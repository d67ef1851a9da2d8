// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
